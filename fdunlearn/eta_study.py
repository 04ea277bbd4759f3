"""How much DDIM's eta matters for a shipped DDPM: the measurement behind the course's sampler choice.

DDIM (Song et al. 2021, Eq. 12) steps from x_t to x_{t'} with a noise scale
sigma_t(eta) = eta * sqrt((1 - abar_{t'}) / (1 - abar_t)) * sqrt(1 - abar_t / abar_{t'}):
eta = 0 is the deterministic ODE, eta = 1 adds DDPM's posterior noise at every step. Same
50-step grid, same network, same cost; only the sampler differs. Run

    python -m fdunlearn.eta_study --model mnist-ddpm --out data/results/sampler-eta-mnist.json

to score ``--n`` samples per (eta, seed) with the evaluation kit and write one row each.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from fdunlearn import config, ddpm, io, metrics, models

ETAS = (0.0, 0.5, 1.0)
SEEDS = (0, 1)


def measure(model: str, etas: tuple[float, ...] = ETAS, seeds: tuple[int, ...] = SEEDS, n: int = 1000,
            steps: int = 50) -> dict:
    """Evaluation-kit scores of ``n`` samples for every (eta, seed); seed s is `sample --seed s`."""
    for eta in etas:
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {eta!r}")
    unet, sched, rec = models.load_ddpm(model)
    dataset = rec["recipe"]["dataset"]
    rows = []
    for eta in etas:
        for seed in seeds:
            t0 = time.time()
            images = ddpm.sample(unet, sched, n, seed=seed, steps=steps, progress=False, eta=eta)
            seconds = time.time() - t0
            report = metrics.evaluate(dataset, images)
            rows.append({"eta": eta, "seed": seed, "sample_seconds": round(seconds, 1),
                         **{k: report[k] for k in ("confident_share", "entropy", "fid", "kid_mean", "kid_std",
                                                   "class_share")}})
            print(f"eta={eta:g} seed={seed}: {metrics.format_report(report).splitlines()[0]}", flush=True)
    return {"settings": {"model": model, "sha256": rec.get("sha256"), "dataset": dataset, "n": n,
                         "ddim_steps": steps, "mode": config.mode()}, "rows": rows}


def summary(result: dict) -> list[dict]:
    """Mean (and range over seeds) of the confident share, FID and class-share extremes per eta."""
    out = []
    for eta in sorted({r["eta"] for r in result["rows"]}):
        rows = [r for r in result["rows"] if r["eta"] == eta]
        conf = [r["confident_share"] for r in rows]
        fid = [r["fid"] for r in rows]
        out.append({"eta": eta, "seeds": len(rows), "confident_mean": sum(conf) / len(conf),
                    "confident_min": min(conf), "confident_max": max(conf), "fid_mean": sum(fid) / len(fid),
                    "share_min": min(min(r["class_share"]) for r in rows),
                    "share_max": max(max(r["class_share"]) for r in rows)})
    return out


def markdown(result: dict) -> str:
    """The summary as a markdown table (lesson 02 and the model card print it)."""
    s = result["settings"]
    lines = ["| eta | seeds | confident ≥ 0.9 (range) | FID | smallest / largest class share |",
             "|---|---|---|---|---|"]
    for r in summary(result):
        lines.append(f"| {r['eta']:g} | {r['seeds']} | {r['confident_mean']:.1%} ({r['confident_min']:.1%}–"
                     f"{r['confident_max']:.1%}) | {r['fid_mean']:.2f} | {r['share_min']:.1%} / {r['share_max']:.1%} |")
    return "\n".join(lines) + f"\n\n{s['n']} samples per seed, DDIM {s['ddim_steps']} steps, model `{s['model']}`."


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fdunlearn.eta_study", description=__doc__.splitlines()[0])
    p.add_argument("--model", default="mnist-ddpm", help=f"a DDPM: {', '.join(models.SHIPPED)} or a folder")
    p.add_argument("--out", required=True, help="output .json")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--etas", default=",".join(f"{e:g}" for e in ETAS), help="comma-separated, each in [0, 1]")
    p.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    args = p.parse_args(argv)
    try:
        etas = tuple(float(e) for e in args.etas.split(","))
        seeds = tuple(int(s) for s in args.seeds.split(","))
        if args.n < 1 or args.steps < 1:
            raise ValueError(f"--n and --steps must be positive, got {args.n} and {args.steps}")
        result = measure(args.model, etas, seeds, args.n, args.steps)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    io.write_json(result, Path(args.out))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
