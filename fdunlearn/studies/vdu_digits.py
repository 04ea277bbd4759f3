"""Lesson 03's vdu-fs studies: the all-digits table, the trajectories, relearning, on one footing.

Every method forgets each digit in turn from 100 of its training images, 3 seeds, and every model
(the pretrained one included) is scored with the evaluation kit on the same budget: 1,000 samples
drawn with the course's sampler (DDIM 25, eta = 1). Rows go to one JSON file rewritten atomically
after each run, so an interrupted study resumes where it stopped::

    python -m fdunlearn.vdu_digits table --model mnist-ddpm --out data/results/vdu-fs-digits.json
    python -m fdunlearn.vdu_digits trajectory --model mnist-ddpm --digit 7 --out data/results/vdu-fs-trajectory.json
    python -m fdunlearn.vdu_digits relearn --model mnist-ddpm --digit 7 --out data/results/vdu-fs-relearn.json
    python -m fdunlearn.vdu_digits filter --model mnist-ddpm --digits 7,3 --out data/results/replay-filter.json
    python -m fdunlearn.vdu_digits mix --model mnist-ddpm --table data/results/vdu-fs-late.json --variants vdu-fs-late \
        --out data/results/vdu-fs-late-mix.json
    python -m fdunlearn.vdu_digits oracle --model mnist-ddpm --digits 3,7 --out data/results/fs-oracle.json
    python -m fdunlearn.vdu_digits retrain --model mnist-ddpm --digit 3 --out runs/mnist-ddpm-without-3
    python -m fdunlearn.vdu_digits retrained --model mnist-ddpm --digits 3,7 --out data/results/fs-retrained.json

``--variants`` picks the rows (``VARIANTS``, in ``vdu_variants``); ``--digits`` the classes, in the order they run.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import torch
from diffusers import UNet2DModel

from fdunlearn import config, validate
from fdunlearn.models import registry as models
from fdunlearn.studies import vdu_study
from fdunlearn.studies.results import Results
from fdunlearn.studies.vdu_variants import COMMANDS as COMMANDS
from fdunlearn.studies.vdu_variants import DIGIT3_5K_SECTIONS as DIGIT3_5K_SECTIONS
from fdunlearn.studies.vdu_variants import LABELS as LABELS
from fdunlearn.studies.vdu_variants import LARGE_COMMANDS as LARGE_COMMANDS
from fdunlearn.studies.vdu_variants import LATE_FS_WEIGHT as LATE_FS_WEIGHT
from fdunlearn.studies.vdu_variants import LATE_T_MIN as LATE_T_MIN
from fdunlearn.studies.vdu_variants import VARIANTS
from fdunlearn.unlearning import unlearn

BUDGET = vdu_study.Budget(1000, 25, (0, 1, 2), eta=1.0)
FAST = vdu_study.Budget(8, 3, (0,), eta=1.0)
TRAJECTORY_EVERY = 10
TRAJECTORY_SAMPLES = 256


def _check_variants(variants: tuple[str, ...]) -> None:
    bad = [v for v in variants if v not in VARIANTS]
    if bad or not variants:
        raise ValueError(f"unknown variant {bad[0] if bad else ''!r}; accepted: {', '.join(VARIANTS)}")


def _check_digits(digits: tuple[int, ...]) -> None:
    bad = [d for d in digits if not 0 <= d <= 9]
    if bad or not digits or len(set(digits)) != len(digits):
        raise ValueError(f"bad digit list {list(digits)}; accepted: distinct classes in 0..9")


def _budget(n_samples: int | None) -> vdu_study.Budget:
    b = config.pick(BUDGET, FAST)
    if n_samples is not None and n_samples < 2:
        raise ValueError(f"n_samples={n_samples}; accepted: an integer >= 2")
    return dataclasses.replace(b, n_samples=n_samples or b.n_samples)


def _settings(experiment: str, model: str, dataset: str, b: vdu_study.Budget, cfg: unlearn.UnlearnConfig,
              **extra) -> dict:
    return {"experiment": experiment, "model": str(model), "dataset": dataset, "budget": dataclasses.asdict(b),
            "base_config": dataclasses.asdict(cfg), "mode": config.mode(), **extra}


def unlearned_net(model: str, cfg: unlearn.UnlearnConfig) -> UNet2DModel:
    """The network of one unlearning run (written to a temporary folder and read back), for studies that score it
    their own way."""
    with tempfile.TemporaryDirectory() as tmp:
        unet, _, _ = models.load_ddpm(unlearn.unlearn(model, cfg, Path(tmp) / "model", progress=False))
    return unet


def pending_run(results: Results, study: str, variant: str, digit: int, seed: int,
                cfg0: unlearn.UnlearnConfig) -> tuple[str, unlearn.UnlearnConfig] | None:
    """(row key, config) of one run of ``variant`` on ``digit`` and ``seed`` when ``results`` lacks it (announced on
    stdout), else None: the resume step the fs-guide studies share."""
    key = f"{variant}/digit={digit}/seed={seed}"
    if results.get(key) is not None:
        return None
    print(f"[vdu_digits] {study} {key}", flush=True)
    return key, dataclasses.replace(cfg0, forget_class=digit, seed=seed, **VARIANTS[variant])


def _unlearn_and_score(model: str, cfg: unlearn.UnlearnConfig, dataset: str, b: vdu_study.Budget) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        folder = unlearn.unlearn(model, cfg, Path(tmp) / "model", progress=False)
        seconds = time.time() - t0
        unet, scheduler, rec = models.load_ddpm(folder)
    row = vdu_study.score(unet, scheduler, dataset, cfg.forget_class, b, cfg.seed)
    # the first three logged losses: a placebo's starts at round-off (its network equals its target; lesson 03, 7.13)
    return row | {"unlearn_seconds": round(seconds, 1), "steps_run": rec["steps_run"], "replay": rec.get("replay"),
                  "first_losses": [s["loss"] for s in rec["log"][:3]], "config": dataclasses.asdict(cfg)}


def table(model: str, out: str | Path, variants: tuple[str, ...] = ("vdu-fs",), digits: tuple[int, ...] = tuple(
          range(10)), base_cfg: unlearn.UnlearnConfig | None = None, n_samples: int | None = None,
          seeds: tuple[int, ...] | None = None) -> Path:
    """Run (or resume) the all-digits table; the pretrained model is sampled once per seed and scored per digit.

    ``seeds`` runs a subset of the budget's seeds (e.g. seed 0 of every digit first); the file stays one table."""
    _check_variants(variants)
    _check_digits(digits)
    cfg0 = base_cfg or unlearn.UnlearnConfig()
    dataset = models.read_record(models.resolve(model, kind="ddpm"))["recipe"]["dataset"]
    b = _budget(n_samples)
    bad = [s for s in seeds or () if s not in b.seeds]
    if bad:
        raise ValueError(f"seed {bad[0]} is not one of the table's seeds; accepted: {', '.join(map(str, b.seeds))}")
    # rows carry their variant and digit, so one file can grow by more digits or variants later
    results = Results(out, _settings("digits", model, dataset, b, cfg0))
    base_images: dict[int, torch.Tensor] = {}
    for digit in digits:
        for seed in seeds or b.seeds:
            base = results.get(f"base/digit={digit}/seed={seed}")
            if base is None:
                if seed not in base_images:
                    unet, scheduler, _ = models.load_ddpm(model)
                    base_images[seed] = vdu_study.draw(unet, scheduler, b, seed)
                base = {"key": f"base/digit={digit}/seed={seed}", "variant": "pretrained", "digit": digit,
                        "seed": seed, **vdu_study.score_images(base_images[seed], dataset, digit, b)}
                results.add(base)
            for v in variants:
                key = f"{v}/digit={digit}/seed={seed}"
                if results.get(key) is not None:
                    continue
                print(f"[vdu_digits] {key}", flush=True)
                cfg = dataclasses.replace(cfg0, forget_class=digit, seed=seed, **VARIANTS[v])
                row = {"key": key, "variant": v, "digit": digit, "seed": seed,
                       **_unlearn_and_score(model, cfg, dataset, b)}
                row["pul"] = vdu_study.pul(base["forget_share"], row["forget_share"])
                row["fid_remaining_rise"] = row["fid_remaining"] / base["fid_remaining"] - 1
                results.add(row)
    return Path(out)


def trajectory(model: str, out: str | Path, digit: int = 7, variants: tuple[str, ...] = ("vdu-fs", "vdu"),
               every: int = TRAJECTORY_EVERY, seed: int = 0, base_cfg: unlearn.UnlearnConfig | None = None,
               n_samples: int | None = None) -> Path:
    """Forget share and FID every ``every`` optimiser steps of one run per variant (step 0: the pretrained model)."""
    _check_variants(variants)
    _check_digits((digit,))
    if every < 1:
        raise ValueError(f"every={every}; accepted: an integer >= 1")
    cfg0 = base_cfg or unlearn.UnlearnConfig()
    dataset = models.read_record(models.resolve(model, kind="ddpm"))["recipe"]["dataset"]
    b = dataclasses.replace(_budget(n_samples or config.pick(TRAJECTORY_SAMPLES, None)), seeds=(seed,))
    results = Results(out, _settings("trajectory", model, dataset, b, cfg0, digit=digit, every=every))
    unet, scheduler, _ = models.load_ddpm(model)
    if results.get(f"base/step=0/seed={seed}") is None:
        results.add({"key": f"base/step=0/seed={seed}", "variant": "pretrained", "step": 0, "seed": seed,
                     **vdu_study.score(unet, scheduler, dataset, digit, b, seed)})
    for v in variants:
        cfg = dataclasses.replace(cfg0, forget_class=digit, seed=seed, **VARIANTS[v])
        if results.get(f"{v}/step={cfg.steps}/seed={seed}") is not None:
            continue
        snapshots: dict[int, dict[str, torch.Tensor]] = {}

        def keep(step: int, net, snaps=snapshots) -> None:
            if step % every == 0:
                snaps[step] = {k: t.detach().clone() for k, t in net.state_dict().items()}

        print(f"[vdu_digits] trajectory {v}", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            unlearn.unlearn(model, cfg, Path(tmp) / "model", progress=False, on_step=keep)
        for step, state in sorted(snapshots.items()):
            unet.load_state_dict(state)
            results.add({"key": f"{v}/step={step}/seed={seed}", "variant": v, "step": step, "seed": seed,
                         **vdu_study.score(unet, scheduler, dataset, digit, b, seed)})
    return Path(out)


def relearn(model: str, out: str | Path, digit: int = 7, variant: str = "vdu-fs",
            base_cfg: unlearn.UnlearnConfig | None = None, n_samples: int | None = None,
            relearn_n: int | None = None, retrained: str | Path | None = None) -> Path:
    """Lesson 03's relearning check (``vdu_study.relearn_study``) for one variant: fine-tune on ``relearn_n`` forget
    images (None: ``vdu_study.RELEARN_N``; recorded in the settings when given). ``retrained``: the folder holding
    ``vdu_digits retrain``'s runs; the model retrained without the digit is fine-tuned too, a third start."""
    _check_variants((variant,))
    _check_digits((digit,))
    if retrained is not None:
        from fdunlearn.studies import vdu_retrained

        retrained = vdu_retrained.trained(model, digit, retrained)
    cfg = dataclasses.replace(base_cfg or unlearn.UnlearnConfig(), forget_class=digit, **VARIANTS[variant])
    dataset = models.read_record(models.resolve(model, kind="ddpm"))["recipe"]["dataset"]
    b = _budget(n_samples or config.pick(TRAJECTORY_SAMPLES, None))
    extra = {} if relearn_n is None else {"relearn_n": vdu_study.relearn_count(cfg, relearn_n)}
    results = Results(out, _settings("relearn", model, dataset, b, cfg, variant=variant, digit=digit,
                                               **extra))
    for seed in b.seeds:
        vdu_study.relearn_study(results, model, cfg, dataset, b, seed, relearn_n, retrained)
    return Path(out)


FILTER_RATIOS = (1.1, 1.15, 1.2, 1.3)


def filter_audit(model: str, out: str | Path, digits: tuple[int, ...] = (7, 3),
                 ratios: tuple[float, ...] = FILTER_RATIOS, base_cfg: unlearn.UnlearnConfig | None = None) -> Path:
    """How well the forget-like filter (``replay.forget_like``, D_f and the replay set only) removes the forgotten
    class from vdu-fs's replay set, audited by the course classifier (which the filter never sees): per digit, seed
    and ratio, the replay samples read as the digit, those the filter drops, and the kept set's class counts."""
    from fdunlearn.models import classifier as clf
    from fdunlearn.unlearning import replay

    _check_digits(digits)
    bad = [r for r in ratios if not r > 0]
    if bad or not ratios:
        raise ValueError(f"filter ratio {bad[0] if bad else ''!r}; accepted: numbers > 0")
    cfg0 = base_cfg or unlearn.UnlearnConfig()
    unet, scheduler, rec = models.load_ddpm(model)
    dataset = rec["recipe"]["dataset"]
    b = _budget(None)
    results = Results(out, _settings("filter", model, dataset, b, cfg0, ratios=list(ratios)))
    images, _ = replay.replay_set(unet, scheduler, rec["sha256"], cfg0.replay_n, cfg0.replay_seed)
    labels = clf.predict(clf.load(f"{dataset}-classifier"), images)[0].argmax(-1)
    for digit in digits:
        for seed in b.seeds:
            x_forget, _ = unlearn.forget_set(dataset, dataclasses.replace(cfg0, forget_class=digit, seed=seed))
            for ratio in ratios:
                drop = replay.forget_like(images, x_forget, ratio=ratio)
                results.add({"key": f"filter/digit={digit}/seed={seed}/ratio={ratio:g}", "digit": digit, "seed": seed,
                             "ratio": ratio, "replay_n": len(images), "read_as_digit": int((labels == digit).sum()),
                             "dropped": int(drop.sum()), "digit_kept": int(((labels == digit) & ~drop).sum()),
                             "kept_per_class": torch.bincount(labels[~drop], minlength=10).tolist()})
    return Path(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fdunlearn.vdu_digits", description=__doc__.splitlines()[0])
    p.add_argument("experiment", choices=("table", "trajectory", "relearn", "filter", "filter-space", "mix", "oracle",
                                          "fit", "bands", "target", "seeds", "residue", "decided", "retrain",
                                          "retrained"))
    p.add_argument("--model", default="mnist-ddpm")
    p.add_argument("--out", required=True, help="results JSON (resumed when it exists); retrain: the run folder")
    p.add_argument("--variants", help=f"rows, comma-separated, from: {', '.join(VARIANTS)}")
    p.add_argument("--digits", help="table: classes in the order they run (default 0..9); filter: default 7,3; "
                   "oracle, residue, filter-space: default 3,7")
    p.add_argument("--digit", type=int, default=7,
                   help="one-digit studies: the class to forget (default 7); retrain: the class left out (-1: none)")
    p.add_argument("--n-samples", type=int, help="samples scored per model")
    p.add_argument("--steps", type=int, help="optimizer steps per run (default: unlearn's)")
    p.add_argument("--seeds", help="table, fit, bands, target, seeds, residue, decided: run only these of the seeds "
                   "0,1,2 (comma-separated)")
    p.add_argument("--table", help="mix: the table whose rows are re-mixed")
    p.add_argument("--retrained", help="retrained: the folder holding retrain's runs (default runs); relearn: "
                   "fine-tune the model retrained without the digit from that folder too")
    p.add_argument("--relearn-n", type=int,
                   help=f"relearn: forget images fine-tuned on (default {vdu_study.RELEARN_N})")
    args = p.parse_args(argv)
    config.device()

    def body() -> None:
        cfg = unlearn.UnlearnConfig()
        if args.steps is not None:
            cfg = dataclasses.replace(cfg, steps=args.steps)
        cfg = config.pick(cfg, dataclasses.replace(cfg, n_forget=4, batch_size=4, replay_n=8, steps=args.steps or 2))
        variants = tuple(v.strip() for v in args.variants.split(",")) if args.variants else None
        if args.experiment == "table":
            digits = tuple(int(d) for d in args.digits.split(",")) if args.digits else tuple(range(10))
            seeds = tuple(int(x) for x in args.seeds.split(",")) if args.seeds else None
            path = table(args.model, args.out, variants or ("vdu-fs",), digits, cfg, args.n_samples, seeds)
        elif args.experiment == "filter":
            digits = tuple(int(d) for d in args.digits.split(",")) if args.digits else (7, 3)
            path = filter_audit(args.model, args.out, digits, base_cfg=cfg)
        elif args.experiment == "filter-space":
            from fdunlearn.studies import filter_space

            digits = tuple(int(d) for d in args.digits.split(",")) if args.digits else (3, 7)
            path = filter_space.audit(args.model, args.out, digits, cfg)
        elif args.experiment == "oracle":
            from fdunlearn.studies import vdu_oracle

            digits = tuple(int(d) for d in args.digits.split(",")) if args.digits else (3, 7)
            path = vdu_oracle.oracle(args.model, args.out, digits, n_samples=args.n_samples)
        elif args.experiment in ("retrain", "retrained"):
            from fdunlearn.studies import vdu_retrained

            if args.experiment == "retrain":
                path = vdu_retrained.retrain(args.model, args.digit, args.out, progress=sys.stderr.isatty())
            else:
                digits = tuple(int(d) for d in args.digits.split(",")) if args.digits else (3, 7)
                path = vdu_retrained.score(args.model, args.out, args.retrained or "runs", digits, args.n_samples)
        elif args.experiment in ("residue", "decided"):
            from fdunlearn.studies import guide_residue

            seeds = tuple(int(x) for x in args.seeds.split(",")) if args.seeds else config.pick(BUDGET, FAST).seeds
            if args.experiment == "decided":
                path = guide_residue.decided(args.model, args.out, args.digit, variants or ("fs-guide-ema",), seeds,
                                             cfg, args.n_samples)
            else:
                digits = tuple(int(d) for d in args.digits.split(",")) if args.digits else (3, 7)
                path = guide_residue.residue(args.model, args.out, digits, variants or ("fs-guide-ema",), seeds, cfg,
                                             args.n_samples)
        elif args.experiment == "mix":
            if not args.table or not variants:
                raise ValueError("mix needs --table FILE and --variants; accepted: e.g. --table "
                                 "data/results/vdu-fs-late.json --variants vdu-fs-late")
            from fdunlearn.studies import vdu_mix

            path = vdu_mix.mix(args.model, args.out, args.table, variants)
        elif args.experiment in ("fit", "bands", "target", "seeds"):  # studies of fs-guide's runs on one digit
            from fdunlearn.studies import guide_bands, guide_fit, guide_seeds, guide_target

            seeds = tuple(int(x) for x in args.seeds.split(",")) if args.seeds else config.pick(BUDGET, FAST).seeds
            if args.experiment == "fit":
                path = guide_fit.fit(args.model, args.out, args.digit, variants or ("fs-guide-ema",), seeds, cfg)
            elif args.experiment == "seeds":
                path = guide_seeds.crossed(args.model, args.out, args.digit, variants or ("fs-guide-ema",), seeds,
                                           cfg, args.n_samples)
            else:
                study = guide_bands.bands if args.experiment == "bands" else guide_target.target
                path = study(args.model, args.out, args.digit, variants or ("fs-guide-ema-scale1.25",), seeds, cfg,
                             args.n_samples)
        elif args.experiment == "trajectory":
            path = trajectory(args.model, args.out, args.digit, variants or ("vdu-fs", "vdu"),
                              base_cfg=cfg, n_samples=args.n_samples)
        else:
            path = relearn(args.model, args.out, args.digit, (variants or ("vdu-fs",))[0], cfg, args.n_samples,
                           args.relearn_n, args.retrained)
        print(f"wrote {path}")

    return validate.run(body, interrupted=vdu_study.RESUME_HINT)


if __name__ == "__main__":
    sys.exit(main())
