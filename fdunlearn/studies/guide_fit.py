"""How much of fs-guide's correction the fine-tuned network learns (lesson 03 section 7.16).

fs-guide regresses the network onto eps_0(x_t) - scale * shift(x_t) (``unlearning.guide.target``). After a run, the
network's own change eps_0 - eps_theta can be laid against what the target asked for, scale * shift, on noised
images at a few timesteps inside the band:

    learned = <eps_0 - eps_theta, scale * shift> / ||scale * shift||^2   (summed over the images of a set)

1 means the target was learned in full, 0 that the network did not move along it. Three sets of images: the forget
images the run trained on (D_f), held-out test images of the digit (never trained on), and kept replay samples (where
the target asks for little: the network's change there is what it does to the other digits)::

    python -m fdunlearn.vdu_digits fit --model mnist-ddpm --digit 3 --variants fs-guide-ema,fs-guide-ema-scale1.25 \\
        --seeds 0,1 --out FILE.json      # lesson 03's file: vdu_digits.COMMANDS["fs-guide-fit"]
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from fdunlearn.datasets import images as data
from fdunlearn.models import ddpm
from fdunlearn.models import registry as models
from fdunlearn.studies.results import Results
from fdunlearn.unlearning import guide, unlearn

TIMESTEPS = (320, 400, 480, 560)  # inside fs-guide's band [300, 600)
N_IMAGES = 100  # images per set (fewer when a set is smaller)
NOISE_SEED = 7  # the noise of every set, so each model is read on the same x_t
MIN_ASKED = 0.05  # below this mean norm of the shift asked for (eps is ~32 long), "learned" is noise over nothing


def learned(frozen, unet, scheduler, x0: torch.Tensor, ref: guide.Reference, scale: float, t: int,
            seed: int = NOISE_SEED) -> dict[str, float | None]:
    """At timestep ``t`` on ``x0`` noised once: the share of the target's shift the network learned (the formula in
    the module docstring), the mean posterior w, and the mean norms of the shift asked for and of the change made."""
    tt = torch.full((len(x0),), t)
    x_t = ddpm.forward_process(scheduler, x0, [t], seed)[0]
    with torch.no_grad():
        got = (frozen(x_t, tt).sample - unet(x_t, tt).sample).flatten(1)
        shift, w = guide.correction(x_t, scheduler.alphas_cumprod[tt], ref.forget, ref.kept, ref.pi_f)
    want = scale * shift.flatten(1)
    asked = want.norm(dim=1).mean().item()
    return {"t": t, "w": w.mean().item(), "asked": asked, "moved": got.norm(dim=1).mean().item(),
            "learned": (got * want).sum().item() / want.pow(2).sum().item() if asked >= MIN_ASKED else None}


def check_runs(study: str, digit: int, variants: tuple[str, ...], seeds: tuple[int, ...]) -> None:
    """What a study of fs-guide's runs (``fit``, ``guide_bands.bands``) accepts: fs-guide variants, a digit, seeds."""
    from fdunlearn.studies import vdu_digits as vd  # vdu_digits' command line dispatches to the studies

    vd._check_variants(variants)
    vd._check_digits((digit,))
    not_guide = [v for v in variants if vd.VARIANTS[v].get("method") != "fs-guide"]
    if not_guide:
        raise ValueError(f"{study} reads fs-guide runs; {not_guide[0]!r} is not one; accepted: "
                         + ", ".join(v for v, c in vd.VARIANTS.items() if c.get("method") == "fs-guide"))
    check_seeds(seeds)


def check_seeds(seeds: tuple[int, ...]) -> None:
    """What the studies of fs-guide's runs accept as seeds: at least one, distinct, >= 0."""
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ValueError(f"seeds {list(seeds)}; accepted: distinct integers >= 0")


def fit(model: str, out: str | Path, digit: int, variants: tuple[str, ...], seeds: tuple[int, ...] = (0, 1, 2),
        cfg0: unlearn.UnlearnConfig | None = None) -> Path:
    """Run (or resume) one fs-guide run per variant and seed, and read what it learned on each set (rows per t)."""
    from fdunlearn.studies import vdu_digits as vd  # vdu_digits' command line dispatches here

    check_runs("fit", digit, variants, seeds)
    cfg0 = cfg0 or unlearn.UnlearnConfig()
    frozen, scheduler, rec = models.load_ddpm(model)
    dataset = rec["recipe"]["dataset"]
    results = Results(out, {"experiment": "fit", "model": str(model), "dataset": dataset, "digit": digit,
                            "timesteps": list(TIMESTEPS), "n_images": N_IMAGES, "noise_seed": NOISE_SEED,
                            "base_config": dataclasses.asdict(cfg0)})
    held = data.load(dataset, "heldout", verbose=False)
    for v in variants:
        for seed in seeds:
            if (todo := vd.pending_run(results, "fit", v, digit, seed, cfg0)) is None:
                continue
            key, cfg = todo
            x_forget, _ = unlearn.forget_set(dataset, cfg)
            unet = vd.unlearned_net(model, cfg)
            ref = unlearn.function_prior(frozen, scheduler, rec["sha256"], x_forget, cfg)["guide"]
            sets = {"forget images (trained on)": x_forget[:N_IMAGES],
                    "held-out images of the digit": held.images[held.labels == digit][:N_IMAGES],
                    "kept replay samples": ref.kept[:N_IMAGES]}
            rows = {name: [learned(frozen, unet, scheduler, x, ref, cfg.guide_scale, t) for t in TIMESTEPS]
                    for name, x in sets.items()}
            results.add({"key": key, "variant": v, "digit": digit, "seed": seed, "guide_scale": cfg.guide_scale,
                         "sets": rows})
    return Path(out)


def summary(results: dict) -> dict[tuple[str, str], list[dict[str, float | None]]]:
    """Per (variant, set), per timestep: the share learned, the norm asked for and the norm moved, averaged over the
    seeds ("learned" None where too little was asked on every seed)."""
    cells: dict[tuple[str, str], list[list[dict]]] = {}
    for r in results["rows"]:
        for name, per_t in r["sets"].items():
            cols = cells.setdefault((r["variant"], name), [[] for _ in per_t])
            for col, row in zip(cols, per_t, strict=True):
                col.append(row)

    def mean(rows: list[dict], field: str) -> float | None:
        vals = [row[field] for row in rows if row[field] is not None]
        return sum(vals) / len(vals) if vals else None

    return {k: [{f: mean(col, f) for f in ("learned", "asked", "moved")} for col in cols] for k, cols in cells.items()}


def markdown(results: dict) -> str:
    """``summary`` as a table: one line per variant and set, one column per timestep: share learned (norm moved /
    norm asked)."""
    ts = results["settings"]["timesteps"]
    seeds = len({r["seed"] for r in results["rows"]})
    head = f"| variant | images ({seeds} seed{'s' * (seeds != 1)}, mean) | "
    lines = [head + " | ".join(f"t = {t}" for t in ts) + " |",
             "|---|---|" + "---|" * len(ts)]
    for (v, name), cols in summary(results).items():
        cells = " | ".join(f"{'–' if c['learned'] is None else format(c['learned'], '.2f')} "
                           f"({c['moved']:.2f} / {c['asked']:.2f})" for c in cols)
        lines.append(f"| {v} | {name} | {cells} |")
    return "\n".join(lines)


def headline(results: dict, command: str) -> str:
    """One sentence for the README: per variant, the range over timesteps of the share learned on the forget images
    each run trained on."""
    learned = summary(results)
    parts = []
    for v in dict.fromkeys(v for v, _ in learned):
        own = [c["learned"] for c in learned[v, "forget images (trained on)"] if c["learned"] is not None]
        parts.append(f"{v} {100 * min(own):.0f}–{100 * max(own):.0f}%")
    return (f"How much of the correction a run learns (`{command}`; timesteps {', '.join(map(str, TIMESTEPS))}): on "
            "the forget images it trained on, " + ", ".join(parts) + " of the shift its target asks for.")
