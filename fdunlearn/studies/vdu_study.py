"""Lesson 03's precomputed experiments: the method table, the sweeps and the relearning check.

Each experiment is a list of unlearning runs; each run unlearns (``fdunlearn.unlearning.unlearn``), samples
with DDIM and scores the samples with the evaluation kit, on all classes and on the remaining ones.
Results go to one JSON file, rewritten atomically after every run, so an interrupted study resumes
where it stopped (finished runs are skipped). ``python -m fdunlearn.vdu_study --help`` lists them::

    python -m fdunlearn.vdu_study table   --model mnist-ddpm --forget-class 7 --out data/results/vdu-mnist-table.json
    python -m fdunlearn.vdu_study n-forget --model mnist-ddpm --forget-class 7 --out data/results/vdu-mnist-n.json
    python -m fdunlearn.vdu_study gamma   --model mnist-ddpm --forget-class 7 --out data/results/vdu-mnist-gamma.json
    python -m fdunlearn.vdu_study relearn --model mnist-ddpm --forget-class 7 --out data/results/vdu-mnist-relearn.json
    python -m fdunlearn.vdu_study steps   --model mnist-ddpm --forget-class 7 --out data/results/vdu-mnist-steps.json

Every row keeps a 4x4 grid of its first 16 samples as a base64 PNG (``grid_png``; ``thumbnail``
decodes it), so the lesson can show before/after images without sampling again.

Percentage of unlearning (VDU paper): PUL = 100 (s_base - s) / s_base, with s the share of samples
the classifier assigns to the forgotten class, before (s_base) and after unlearning.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import torch

from fdunlearn import config, validate
from fdunlearn.datasets.samples import encode_grid
from fdunlearn.datasets.samples import thumbnail as thumbnail  # lesson 03 calls vdu_study.thumbnail
from fdunlearn.evaluation import metrics
from fdunlearn.models import ddpm
from fdunlearn.models import registry as models
from fdunlearn.studies.results import Results
from fdunlearn.unlearning import unlearn

EXPERIMENTS = ("table", "n-forget", "gamma", "relearn", "steps")
TABLE_METHODS = (("vdu", "checkpoints"), ("vdu", "fisher"), ("ga", "checkpoints"), ("l2", "checkpoints"),
                 ("salun", "checkpoints"))
N_FORGET_SWEEP = (10, 50, 100, 250)
# log-spaced in 1 - gamma (the plasticity weight): 1, 0.5, 0.3, 0.2, 0.1, 0.01, plus 0.4 and 0.35, where the
# model flips from collapse (gamma <= 0.6) to no change (gamma >= 0.7)
GAMMA_SWEEP = (0.0, 0.5, 0.6, 0.65, 0.7, 0.8, 0.9, 0.99)
STEPS_SWEEP = (10, 50, 200)
# Lesson 03 scores with the deterministic sampler (DDIM eta = 0), on which all its stored tables were
# made; the course default (``ddpm.DDIM_ETA`` = 1) gives cleaner digits but the same unlearning picture
# (the VDU row rerun at eta = 1: ``vdu_report.command("vdu-mnist-eta1")``).
ETA = 0.0
RESUME_HINT = "interrupted: every finished run is saved; rerun the same command to resume"
STOP_FACTOR = 2.0  # the ``steps`` experiment's stopped run: forget loss at most twice its pretrained value


@dataclasses.dataclass(frozen=True)
class Budget:
    """How many samples score a model, with how many DDIM steps, and how many seeds per setting."""

    n_samples: int
    ddim_steps: int
    seeds: tuple[int, ...]
    eta: float = ETA  # DDIM eta of the scoring sampler


BUDGETS = {"table": Budget(1000, 50, (0, 1, 2)), "sweep": Budget(512, 25, (0, 1, 2))}
FAST_BUDGET = Budget(8, 3, (0,))


def budget(kind: str) -> Budget:
    return config.pick(BUDGETS[kind], FAST_BUDGET)


def draw(unet, scheduler, b: Budget, seed: int = 0, return_trajectory: bool = False):
    """The ``b.n_samples`` images a model is scored on for ``seed`` (sampler seed 1000 + seed, every model alike);
    with ``return_trajectory``, also x_t after each sampler step (``ddpm.sample``)."""
    return ddpm.sample(unet, scheduler, b.n_samples, seed=1000 + seed, steps=b.ddim_steps, progress=False, eta=b.eta,
                       return_trajectory=return_trajectory)


def score(unet, scheduler, dataset: str, forget_class: int, b: Budget, seed: int = 0) -> dict:
    """Sample ``b.n_samples`` images and score them: forget share, entropy, shares, FID on the remaining classes."""
    return score_images(draw(unet, scheduler, b, seed), dataset, forget_class, b)


def score_images(images: torch.Tensor, dataset: str, forget_class: int, b: Budget) -> dict:
    """Score samples already drawn with budget ``b`` (see ``score``)."""
    full = metrics.evaluate(dataset, images)
    remaining = [c for c in range(10) if c != forget_class]
    rest = metrics.evaluate(dataset, images, remaining)
    others = [s for c, s in enumerate(full["class_share"]) if c != forget_class]
    return {"n_samples": b.n_samples, "ddim_steps": b.ddim_steps, "forget_share": full["class_share"][forget_class],
            "grid_png": encode_grid(images[:16]),
            "class_share": full["class_share"], "entropy": full["entropy"],
            "confident_share": full["confident_share"], "fid_all": full["fid"], "fid_remaining": rest["fid"],
            "kid_remaining": rest["kid_mean"], "other_min": min(others), "other_max": max(others)}


def pul(base_share: float, share: float) -> float | None:
    """Percentage of unlearning, 100 (s_base - s) / s_base; None when the base model never drew the class."""
    return 100.0 * (base_share - share) / base_share if base_share > 0 else None


def _unlearn_and_score(model: str, cfg: unlearn.UnlearnConfig, dataset: str, b: Budget) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        folder = unlearn.unlearn(model, cfg, Path(tmp) / "model", progress=False)
        seconds = time.time() - t0
        unet, scheduler, rec = models.load_ddpm(folder)
    row = score(unet, scheduler, dataset, cfg.forget_class, b, cfg.seed)
    return row | {"unlearn_seconds": round(seconds, 1), "steps_run": rec["steps_run"],
                  "config": dataclasses.asdict(cfg)}


def _base(results: Results, model: str, dataset: str, forget_class: int, b: Budget, seed: int) -> dict:
    key = f"base/seed={seed}"
    if (row := results.get(key)) is None:
        unet, scheduler, _ = models.load_ddpm(model)
        row = {"key": key, "method": "pretrained", "seed": seed,
               **score(unet, scheduler, dataset, forget_class, b, seed)}
        results.add(row)
    return row


def _run(results: Results, key: str, model: str, cfg: unlearn.UnlearnConfig, dataset: str, b: Budget,
         extra: dict) -> dict:
    if (row := results.get(key)) is None:
        print(f"[vdu_study] {key}", flush=True)
        base = _base(results, model, dataset, cfg.forget_class, b, cfg.seed)
        row = {"key": key, **extra, "seed": cfg.seed, **_unlearn_and_score(model, cfg, dataset, b)}
        row["pul"] = pul(base["forget_share"], row["forget_share"])
        row["fid_remaining_rise"] = row["fid_remaining"] / base["fid_remaining"] - 1
        results.add(row)
    return row


def study(experiment: str, model: str, forget_class: int, out: str | Path, base_cfg: unlearn.UnlearnConfig,
          methods: tuple[tuple[str, str], ...] = TABLE_METHODS, budget_kind: str | None = None,
          n_samples: int | None = None, ddim_steps: int | None = None, eta: float | None = None,
          gammas: tuple[float, ...] | None = None) -> Path:
    """Run (or resume) one experiment; returns the results file.

    ``methods`` ((method, prior) pairs) selects the table's rows; ``budget_kind`` (``table`` or ``sweep``)
    overrides the experiment's evaluation budget (e.g. a cheaper CIFAR-10 table); ``n_samples`` and
    ``ddim_steps`` override its sample count and DDIM steps, ``eta`` its sampler's eta (default ``ETA``);
    the budget is stored with the results. ``gammas`` replaces ``GAMMA_SWEEP`` in the gamma experiment.
    """
    if experiment not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {experiment!r}; accepted: {', '.join(EXPERIMENTS)}")
    kind = budget_kind or ("table" if experiment == "table" else "sweep")
    if kind not in BUDGETS:
        raise ValueError(f"unknown budget {kind!r}; accepted: {', '.join(BUDGETS)}")
    for method, prior in methods:
        unlearn.check(unlearn.UnlearnConfig(method=method, prior=prior, n_forget=1), n_available=1)
    dataset = models.read_record(models.resolve(model, kind="ddpm"))["recipe"]["dataset"]
    b = budget(kind)
    if eta is not None and not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must be in [0, 1], got {eta!r}")
    bad = [g for g in gammas or () if not 0.0 <= g <= 1.0]
    if bad:
        raise ValueError(f"gamma must be in [0, 1], got {bad[0]!r}")
    b = dataclasses.replace(b, n_samples=n_samples or b.n_samples, ddim_steps=ddim_steps or b.ddim_steps,
                            eta=b.eta if eta is None else eta)
    cfg0 = dataclasses.replace(base_cfg, forget_class=forget_class)
    for name, value in (("n_samples", n_samples), ("ddim_steps", ddim_steps)):
        if value is not None and not (isinstance(value, int) and value >= 2 - (name == "ddim_steps")):
            raise ValueError(f"{name}={value!r}; accepted: an integer >= {2 - (name == 'ddim_steps')}")
    unlearn.check(cfg0, n_available=max(cfg0.n_forget, 1))  # class, gamma, steps, lr, ... before any work
    settings = {"experiment": experiment, "model": str(model), "dataset": dataset, "forget_class": forget_class,
                "budget": dataclasses.asdict(b), "base_config": dataclasses.asdict(cfg0), "mode": config.mode()}
    if experiment == "table" and methods != TABLE_METHODS:
        settings["methods"] = [list(m) for m in methods]
    if experiment == "gamma" and gammas is not None and tuple(gammas) != GAMMA_SWEEP:
        settings["gammas"] = list(gammas)
    results = Results(out, settings)
    for seed in b.seeds:
        if experiment == "table":
            for method, prior in methods:
                cfg = dataclasses.replace(cfg0, method=method, prior=prior, seed=seed)
                _run(results, f"{method}-{prior}/seed={seed}", model, cfg, dataset, b,
                     {"method": method, "prior": prior})
        elif experiment == "n-forget":
            for n in config.pick(N_FORGET_SWEEP, (2, 4)):
                cfg = dataclasses.replace(cfg0, n_forget=n, seed=seed)
                _run(results, f"n={n}/seed={seed}", model, cfg, dataset, b, {"method": cfg.method, "n_forget": n})
        elif experiment == "gamma":
            default = config.pick(GAMMA_SWEEP, (0.0, 0.9))
            for gamma in default if gammas is None else gammas:
                cfg = dataclasses.replace(cfg0, gamma=gamma, seed=seed)
                _run(results, f"gamma={gamma}/seed={seed}", model, cfg, dataset, b,
                     {"method": cfg.method, "gamma": gamma})
        elif experiment == "steps":
            sweep = config.pick(STEPS_SWEEP, (1, 2))
            for m in sweep:  # no stop criterion: what the unbounded plasticity term does with more steps
                cfg = dataclasses.replace(cfg0, steps=m, stop_factor=None, seed=seed)
                _run(results, f"steps={m}/seed={seed}", model, cfg, dataset, b,
                     {"method": cfg.method, "steps": m, "stopped": False})
            cfg = dataclasses.replace(cfg0, steps=sweep[-1], stop_factor=STOP_FACTOR, seed=seed)
            _run(results, f"stop/seed={seed}", model, cfg, dataset, b,
                 {"method": cfg.method, "steps": sweep[-1], "stopped": True})
        else:
            relearn_study(results, model, cfg0, dataset, b, seed)
    return Path(out)


# ----------------------------------------------------------------------------- relearning
RELEARN_STEPS = (0, 10, 50)
RELEARN_N = 10  # forget images shown during relearning
RELEARN_LR = 1e-4


def relearn(unet, scheduler, images: torch.Tensor, steps: int, seed: int, lr: float = RELEARN_LR,
            batch_size: int = 10) -> None:
    """Fine-tune ``unet`` in place with the plain DDPM loss on ``images`` for ``steps`` Adam steps."""
    g = torch.Generator().manual_seed(seed)
    unet.train().requires_grad_(True)
    opt = torch.optim.Adam(unet.parameters(), lr=lr)
    for _ in range(steps):
        idx = torch.randint(0, len(images), (min(batch_size, len(images)),), generator=g)
        loss = ddpm.diffusion_loss(unet, scheduler, images[idx], g)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    unet.eval().requires_grad_(False)


def relearn_count(cfg: unlearn.UnlearnConfig, n_images: int | None) -> int:
    """The forget images a relearning run fine-tunes on: ``n_images`` checked against the forget set, or (None)
    ``RELEARN_N`` capped by it."""
    if n_images is None:
        return min(RELEARN_N, cfg.n_forget)
    if not (isinstance(n_images, int) and 1 <= n_images <= cfg.n_forget):
        raise ValueError(f"relearning images n={n_images!r}; accepted: an integer 1..{cfg.n_forget} (the forget set)")
    return n_images


def relearn_study(results: Results, model: str, cfg: unlearn.UnlearnConfig, dataset: str, b: Budget,
                  seed: int, n_images: int | None = None, retrained: str | Path | None = None) -> None:
    """Forget share while fine-tuning on ``n_images`` forget images (``relearn_count``): the unlearned model vs the
    pretrained one, and (``retrained``: a model folder) the model retrained without the class, fine-tuned the same
    way (start ``retrained``)."""
    from fdunlearn.datasets import images as data

    n_images = relearn_count(cfg, n_images)
    cfg = dataclasses.replace(cfg, seed=seed)
    train = data.load(dataset, "train", verbose=False)
    _, chosen = unlearn.forget_set(dataset, cfg)
    images = train.images[chosen[:n_images]]  # images the unlearning run itself saw: the worst case
    steps = config.pick(RELEARN_STEPS, (0, 2))

    def missing(start: str) -> bool:  # a resumed file: a start whose every row is there is not fine-tuned again
        return any(results.get(f"relearn/{start}/steps={total}/seed={seed}") is None for total in steps)

    with tempfile.TemporaryDirectory() as tmp:
        starts = [("pretrained", model)] if missing("pretrained") else []
        if missing(cfg.method):
            starts.append((cfg.method, unlearn.unlearn(model, cfg, Path(tmp) / "model", progress=False)))
        if retrained and missing("retrained"):
            starts.append(("retrained", Path(retrained)))
        for start, source in starts:
            done = 0
            unet, scheduler, rec = models.load_ddpm(source)
            for total in steps:
                key = f"relearn/{start}/steps={total}/seed={seed}"
                relearn(unet, scheduler, images, total - done, seed=seed + total)
                done = total
                if results.get(key) is None:
                    row = score(unet, scheduler, dataset, cfg.forget_class, b, seed)
                    results.add({"key": key, "start": start, "relearn_steps": total, "seed": seed, **row}
                                | ({"model_sha256": rec.get("sha256")} if start == "retrained" else {}))


# ----------------------------------------------------------------------------- summaries
def summarise(rows: list[dict], by: str, fields: tuple[str, ...]) -> dict:
    """Mean and standard deviation over seeds of ``fields``, grouped by ``by``."""
    groups: dict = {}
    for r in rows:
        if by in r:
            groups.setdefault(r[by], []).append(r)
    out = {}
    for value, group in groups.items():
        stats = {}
        for f in fields:
            x = torch.tensor([float(r[f]) for r in group if r.get(f) is not None], dtype=torch.float64)
            if len(x) == 0:  # e.g. PUL when the base model never drew the class
                stats[f] = (float("nan"), float("nan"))
                continue
            stats[f] = (x.mean().item(), x.std().item() if len(x) > 1 else 0.0)
        out[value] = stats | {"n_seeds": len(group)}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fdunlearn.vdu_study", description=__doc__.splitlines()[0])
    p.add_argument("experiment", choices=EXPERIMENTS)
    p.add_argument("--model", default="mnist-ddpm")
    p.add_argument("--forget-class", type=int, default=7)
    p.add_argument("--out", required=True, help="results JSON (resumed when it exists)")
    p.add_argument("--gamma", type=float, help="VDU gamma (default: unlearn's)")
    p.add_argument("--steps", type=int, help="optimizer steps per run (default: unlearn's)")
    p.add_argument("--lr", type=float, help="learning rate (default: unlearn's)")
    p.add_argument("--prior", choices=unlearn.PRIORS, help="VDU's prior for every run (default: checkpoints)")
    p.add_argument("--gammas", help="gamma experiment's values, comma-separated (default: "
                   + ",".join(f"{g:g}" for g in GAMMA_SWEEP) + ")")
    p.add_argument("--methods", help="table rows as METHOD-PRIOR,... (default: all: "
                   + ",".join(f"{m}-{q}" for m, q in TABLE_METHODS) + ")")
    p.add_argument("--budget", choices=tuple(BUDGETS), help="evaluation budget (default: table for the table, "
                   "sweep otherwise)")
    p.add_argument("--n-samples", type=int, help="samples scored per model (default: the budget's)")
    p.add_argument("--ddim-steps", type=int, help="DDIM steps per sample (default: the budget's)")
    p.add_argument("--eta", type=float, help=f"DDIM eta of the scoring sampler, 0..1 (default {ETA:g})")
    args = p.parse_args(argv)
    cfg = unlearn.UnlearnConfig()
    overrides = {k: v for k, v in dict(gamma=args.gamma, steps=args.steps, lr=args.lr, prior=args.prior).items()
                 if v is not None}
    overrides = config.pick({}, dict(steps=3, n_forget=4, batch_size=4)) | overrides
    config.device()

    def body() -> None:
        methods = TABLE_METHODS if not args.methods else tuple(
            tuple(m.strip().split("-", 1)) if "-" in m else (m.strip(), "checkpoints") for m in args.methods.split(","))
        out = study(args.experiment, args.model, args.forget_class, args.out, dataclasses.replace(cfg, **overrides),
                    methods=methods, budget_kind=args.budget, n_samples=args.n_samples,
                    ddim_steps=args.ddim_steps, eta=args.eta,
                    gammas=None if args.gammas is None else tuple(float(g) for g in args.gammas.split(",")))
        print(f"wrote {out}")

    return validate.run(body, interrupted=RESUME_HINT)

if __name__ == "__main__":
    sys.exit(main())
