"""How much DDIM's eta matters for a shipped DDPM: the measurement behind the course's sampler choice.

DDIM (Song et al. 2021, Eq. 12) steps from x_t to x_{t'} with a noise scale
sigma_t(eta) = eta * sqrt((1 - abar_{t'}) / (1 - abar_t)) * sqrt(1 - abar_t / abar_{t'}):
eta = 0 is the deterministic ODE, eta = 1 adds DDPM's posterior noise at every step. Same
50-step grid, same network, same cost; only the sampler differs. Run

    python -m fdunlearn.eta_study --model mnist-ddpm --out data/results/sampler-eta-mnist.json

to score ``--n`` samples per (eta, seed) with the evaluation kit and write one row each (an existing ``--out`` is
replaced only with ``--overwrite``; every option and the output path are checked before any sampling).
"""

from __future__ import annotations

import argparse
import sys
import time

from fdunlearn import config, validate
from fdunlearn import files as io
from fdunlearn.evaluation import metrics
from fdunlearn.models import ddpm
from fdunlearn.models import registry as models

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


MAX_N, MAX_SEEDS = 100_000, 100


def _etas(text: str) -> tuple[float, ...]:
    try:
        etas = tuple(float(e) for e in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"got {text!r}; accepted: comma-separated numbers in [0, 1]") from None
    for eta in etas:
        if not 0.0 <= eta <= 1.0:  # also refuses nan
            raise argparse.ArgumentTypeError(f"eta must be in [0, 1], got {eta!r} (in {text!r})")
    return etas


def _seeds(text: str) -> tuple[int, ...]:
    parse = validate.seed
    seeds = tuple(parse(s) for s in text.split(","))
    if len(seeds) > MAX_SEEDS:
        raise argparse.ArgumentTypeError(f"got {len(seeds)} seeds; accepted: at most {MAX_SEEDS}")
    try:
        validate.distinct("seed", seeds)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return seeds


_etas.__name__, _seeds.__name__ = "comma-separated etas in [0, 1]", "comma-separated seeds"


def main(argv: list[str] | None = None) -> int:
    p = validate.ArgumentParser(prog="python -m fdunlearn.eta_study", description=__doc__.splitlines()[0])
    p.add_argument("--model", default="mnist-ddpm", help=f"a DDPM: {', '.join(models.SHIPPED)} or a folder")
    p.add_argument("--out", required=True, help="output .json (refused when it exists, unless --overwrite; a folder "
                   "or an unwritable place is refused before any work)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--n", type=validate.integer(1, MAX_N), default=1000, help=f"samples per (eta, seed), 1..{MAX_N}")
    p.add_argument("--steps", type=validate.integer(1, ddpm.T_STEPS), default=50,
                   help=f"DDIM steps, 1..{ddpm.T_STEPS}")
    p.add_argument("--etas", type=_etas, default=ETAS, help="comma-separated, each in [0, 1]")
    p.add_argument("--seeds", type=_seeds, default=SEEDS, help="comma-separated seeds, distinct")

    def body() -> None:
        args = p.parse_args(argv)
        out = validate.output_file(args.out, suffix=".json", overwrite=args.overwrite)
        validate.distinct("eta", args.etas)
        result = measure(args.model, args.etas, args.seeds, args.n, args.steps)
        io.write_json(result, out)
        print(markdown(result))

    return validate.run(body)


if __name__ == "__main__":
    sys.exit(main())
