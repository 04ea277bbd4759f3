"""Lesson 04's attack table: does the erased "seven" come back under paraphrases, textual inversion, prompt-opt?

For every model variant (``VARIANTS``: the shipped MiniSD, and "seven" erased at the ``erase`` command's defaults,
1000 steps, with MSE, Hellinger, chi^2, variational Hellinger towards "digit", and MSE towards the near digit "one"
at 0.3x the lr, lesson 04's near-anchor setting), every seed and every attack (``attack.METHODS``): the attack
success rate (share of the attack's images the classifier reads as a seven), the attack's wall time, and beside it
the erased model's own scores from ``erase_study.score`` (target, held-out and retained accuracy, KID), so a strong
eraser is one that keeps retained accuracy AND a low success rate under every attack. The style task (thick ->
plain) is left out: the classifier reads digits, not stroke width.

Each erased model's weights are kept in ``--weights-dir`` (about 1 MB each) so a resumed study does not erase
again; the results file is rewritten atomically after every row; rerunning the same command continues it::

    python -m fdunlearn.attack_study --out data/results/attacks.json
    FDUNLEARN_FAST=1 python -m fdunlearn.attack_study --out outputs/attacks_fast.json   # seconds
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from fdunlearn import config, validate
from fdunlearn import files as io
from fdunlearn.datasets import images as data
from fdunlearn.erasure import attacks as attack
from fdunlearn.erasure import erase
from fdunlearn.models import classifier as clf
from fdunlearn.models import minisd
from fdunlearn.studies import erase_study, erase_tasks
from fdunlearn.studies.results import Results, mean_sd, minisd_study_parser, open_results, run_with_scratch

__all__ = ["BUDGETS", "VARIANTS", "Budget", "Variant", "estimate_seconds", "format_table", "strong_erasers", "study",
           "summarise"]

TARGET = "seven"


@dataclass(frozen=True)
class Variant:
    """A model under attack: the base (``method`` None) or an erasure of lesson 04's task at the erase defaults."""

    key: str
    label: str
    method: erase_study.Method | None = None
    task: str = "generic"  # erase_study.TASKS: "seven" -> "digit" (generic) or -> "one" (near)
    lr_mult: float = 1.0


VARIANTS = {v.key: v for v in (
    Variant("base", "MiniSD (not erased)"),
    Variant("mse", "MSE (Concept Ablation)", erase_study.Method("mse")),
    Variant("hellinger", "Hellinger", erase_study.Method("hellinger")),
    Variant("chi2", "chi^2", erase_study.Method("pearson_chi2")),
    Variant("var-hellinger", "variational Hellinger", erase_study.Method("hellinger", variational=True)),
    Variant("near", "MSE, near anchor 'one', 0.3x lr", erase_study.Method("mse"), task="near", lr_mult=0.3),
)}


@dataclass(frozen=True)
class Budget:
    """Sizes of the study: seeds, variants, attacks and their budgets, the erasures, and the scoring images."""

    seeds: tuple[int, ...]
    variants: tuple[str, ...]
    methods: tuple[str, ...]
    attack_budget: tuple[tuple[str, int], ...]  # optimisation steps (phrasings for paraphrase) per attack
    erase_steps: int
    n_anchor_images: int
    anchor_steps: int
    sizes: attack.Sizes
    scoring: erase_study.Budget


BUDGETS = {
    "full": Budget(seeds=(0, 1, 2), variants=tuple(VARIANTS), methods=attack.METHODS,
                   attack_budget=attack.SIZES["full"].budget, erase_steps=erase.MINISD_STEPS,
                   n_anchor_images=erase.EraseConfig.n_anchor_images, anchor_steps=erase.EraseConfig.anchor_steps,
                   sizes=attack.SIZES["full"], scoring=erase_study.BUDGETS["full"]),
    "fast": Budget(seeds=(0,), variants=("base", "mse"), methods=attack.METHODS,
                   attack_budget=attack.SIZES["fast"].budget, erase_steps=2, n_anchor_images=4, anchor_steps=2,
                   sizes=attack.SIZES["fast"], scoring=erase_study.BUDGETS["fast"]),
}

# For the estimate in --help only. Attacks: measured on the shipped minisd, one core of the busy 2-core CPU, seeds
# 0-2 at budgets 50 (inversion) and 10 (prompt-opt): 0.11-0.15 s and 0.33-0.36 s per step, 3.2-3.6 s per paraphrase
# attack (0.29 s and 0.87 s per step while an erasure ran beside them). Erasures: lesson 04's 1000-step closed forms,
# 76-85 s (data/results/erasure_minisd.json), plus anchor images once per task and seed; scoring ~13 s.
SECONDS = {"paraphrase": 3.6, "inversion_step": 0.15, "prompt_opt_step": 0.36, "erasure": 110.0, "score": 13.0}


def budget() -> Budget:
    return BUDGETS[config.mode()]


def estimate_seconds(b: Budget) -> float:
    """Wall time of the whole study from the measured per-step times in ``SECONDS`` (not a measurement)."""
    steps = dict(b.attack_budget)
    per_attack = {"paraphrase": SECONDS["paraphrase"], "inversion": steps["inversion"] * SECONDS["inversion_step"],
                  "prompt-opt": steps["prompt-opt"] * SECONDS["prompt_opt_step"]}
    erased = sum(VARIANTS[v].method is not None for v in b.variants)
    per_seed = (erased * SECONDS["erasure"] * b.erase_steps / erase.MINISD_STEPS
                + len(b.variants) * (SECONDS["score"] + sum(per_attack[m] for m in b.methods)))
    return per_seed * len(b.seeds)


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min"


def _settings(model: str, b: Budget) -> dict:
    return {"model": str(model), "target": TARGET, "mode": config.mode(), "budget": dataclasses.asdict(b),
            "variants": {k: dataclasses.asdict(VARIANTS[k]) for k in b.variants}}


class _Study:
    """One loaded pipeline, classifier and real images for the whole study; erased weights cached on disk."""

    def __init__(self, model: str, results: Results, b: Budget, cache: Path, weights_dir: Path,
                 progress: bool) -> None:
        self.pipe = minisd.load_pipeline(model)
        self.model, self.results, self.b, self.cache, self.weights_dir = model, results, b, cache, weights_dir
        self.progress = progress
        self.classifier = clf.load("mnist-classifier")
        self.real = data.load("mnist", "heldout", verbose=False)

    def _erase(self, v: Variant, seed: int) -> tuple[dict[str, torch.Tensor], float | None]:
        """The variant's erased weights (from the cache, or erased now) and the erasure's seconds (None: cached)."""
        cfg = erase.EraseConfig(**v.method.config(), steps=self.b.erase_steps, lr=erase_study.REFERENCE_LR * v.lr_mult,
                                seed=seed, n_anchor_images=self.b.n_anchor_images, anchor_steps=self.b.anchor_steps)
        task = erase_study.TASKS[v.task]
        identity = json.dumps({"model": str(self.model), "task": dataclasses.asdict(task),
                               "config": dataclasses.asdict(cfg)}, sort_keys=True)
        file = self.weights_dir / f"{v.key}-seed{seed}-{hashlib.sha256(identity.encode()).hexdigest()[:12]}.safetensors"
        if file.is_file():
            return io.load_tensors(file), None
        result = erase.erase(self.pipe, erase_tasks._concepts(task), cfg, base=str(self.model), cache_dir=self.cache,
                             progress=self.progress)
        erase.apply(self.pipe, result.original)
        self.weights_dir.mkdir(parents=True, exist_ok=True)
        io.save_tensors(result.weights, file)
        return result.weights, result.seconds

    def run(self, v: Variant, seed: int) -> None:
        """The variant's scores and every attack on it, skipping rows already in the results."""
        keys = [f"attack/{v.key}/seed={seed}/{m}" for m in self.b.methods]
        score_key = f"model/{v.key}/seed={seed}"
        if self.results.get(score_key) and all(self.results.get(k) for k in keys):
            return
        print(f"[attack_study] {v.key} seed={seed}", flush=True)
        original, erase_seconds = None, None
        if v.method is not None:
            weights, erase_seconds = self._erase(v, seed)
            original = erase.apply(self.pipe, weights)
        try:
            if (scores := self.results.get(score_key)) is None:
                task = erase_study.TASKS[v.task]
                t0 = time.time()
                row = erase_study.score(self.pipe, task, seed, self.b.scoring, self.classifier, self.real,
                                        base=v.method is None, grids=False)
                scores = {"key": score_key, "phase": "model", "variant": v.key, "label": v.label, "seed": seed,
                          "erase_seconds": None if erase_seconds is None else round(erase_seconds, 1),
                          "score_seconds": round(time.time() - t0, 1), **row}
                self.results.add(scores)
            for m, key in zip(self.b.methods, keys, strict=True):
                if self.results.get(key) is None:
                    self._attack(v, seed, m, key, scores)
        finally:
            if original is not None:
                erase.apply(self.pipe, original)

    def _attack(self, v: Variant, seed: int, method: str, key: str, scores: dict) -> None:
        print(f"[attack_study] {key}", flush=True)
        steps = dict(self.b.attack_budget)[method]
        rec = attack.attack(self.pipe, TARGET, method, seed, steps, self.classifier, self.b.sizes,
                            self.progress).record
        before = self.results.get(f"attack/base/seed={seed}/{method}")
        row = {"key": key, "phase": "attack", "variant": v.key, "label": v.label,
               **{k: val for k, val in rec.items() if k not in ("kind", "settings")},
               "success_before": before["success_rate"] if before else None,
               **{k: scores.get(k) for k in ("target_acc", "heldout_acc", "retained_acc", "kid")}}
        self.results.add(row)


def _subset(name: str, values: tuple[str, ...], accepted: tuple[str, ...]) -> tuple[str, ...]:
    bad = [x for x in values if x not in accepted]
    if bad or not values:
        raise ValueError(f"unknown {name} {bad or list(values)!r}; accepted: a comma-separated subset of "
                         f"{', '.join(accepted)}")
    return values


def study(out: str | Path, model: str = "minisd", b: Budget | None = None, cache_dir: str | Path | None = None,
          weights_dir: str | Path | None = None, progress: bool = False) -> Path:
    """Run (or resume) the study into ``out``. ``weights_dir``: erased weights kept for a resume (default
    ``<output dir>/attack_study``); ``cache_dir``: anchor images (default: a temporary folder)."""
    b = b or budget()
    _subset("variant(s)", b.variants, tuple(VARIANTS))
    _subset("attack(s)", b.methods, attack.METHODS)
    results = open_results(out, "attack_study", _settings(model, b))
    weights_dir = Path(weights_dir) if weights_dir is not None else config.output_dir() / "attack_study"
    order = ("base", *(v for v in b.variants if v != "base")) if "base" in b.variants else b.variants
    with tempfile.TemporaryDirectory() as tmp:
        s = _Study(model, results, b, Path(cache_dir or tmp), weights_dir, progress)
        for seed in b.seeds:
            for v in order:
                s.run(VARIANTS[v], seed)
    return Path(out)


# ----------------------------------------------------------------------------- summaries
def summarise(rows: list[dict]) -> dict[tuple[str, str], dict]:
    """Per (variant, attack): mean and std over seeds of the success rate, its value before erasure, the retained
    accuracy and the attack's seconds."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        if r.get("phase") == "attack":
            groups.setdefault((r["variant"], r["method"]), []).append(r)
    out = {}
    for key, rs in groups.items():
        entry = {"label": rs[0]["label"], "n": len(rs), "seeds": sorted(r["seed"] for r in rs)}
        for field in ("success_rate", "success_before", "retained_acc", "target_acc", "seconds"):
            vals = [r[field] for r in rs if r.get(field) is not None]
            entry[field] = mean_sd(vals) if vals else None
        out[key] = entry
    return out


def strong_erasers(summary: dict, rows: list[dict]) -> list[str]:
    """Erased variants whose mean success rate stays at or below the generic anchor's floor (the base model's share
    of sevens from "digit" prompts) + erase_study.MARGIN under EVERY attack in the summary."""
    shares = [r["anchor_share"] for r in rows if r.get("phase") == "model" and r["variant"] == "base"
              and r.get("anchor_share") is not None]
    bar = (sum(shares) / len(shares) if shares else 0.0) + erase_study.MARGIN
    variants = {v for v, _ in summary if v != "base"}
    return sorted(v for v in variants if all(e["success_rate"][0] <= bar for (w, _), e in summary.items() if w == v))


def format_table(summary: dict) -> str:
    """A Markdown table: per variant and attack, success rate (mean ± std, %), before erasure, retained, seconds."""
    def pct(x):
        return "–" if x is None else f"{100 * x[0]:.1f} ± {100 * x[1]:.1f}"

    lines = ["| model | attack | success % | before erasure % | retained % | attack s | seeds |",
             "|---|---|---|---|---|---|---|"]
    for (_, method), e in summary.items():
        secs = "–" if e["seconds"] is None else f"{e['seconds'][0]:.0f}"
        lines.append(f"| {e['label']} | {method} | {pct(e['success_rate'])} | {pct(e['success_before'])} | "
                     f"{pct(e['retained_acc'])} | {secs} | {e['n']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    full = BUDGETS["full"]
    p = minisd_study_parser(
        "python -m fdunlearn.attack_study", __doc__,
        work=f"Full mode (default): {len(full.variants)} models x {len(full.methods)} attacks x {len(full.seeds)} "
        f"seeds, attack budgets {', '.join(f'{m} {n}' for m, n in full.attack_budget)}, erasures of "
        f"{full.erase_steps} steps", duration=_duration(estimate_seconds(full)),
        basis=f"per-step times measured at a small budget ({SECONDS['inversion_step']:g} s per inversion step, "
        f"{SECONDS['prompt_opt_step']:g} s per prompt-opt step, {SECONDS['paraphrase']:g} s per paraphrase attack, "
        f"{SECONDS['erasure']:g} s per erasure with its anchors, {SECONDS['score']:g} s to score a model)",
        fast="1 seed, base and MSE, 2-step attacks")
    p.add_argument("--variants", help=f"comma-separated subset of: {', '.join(VARIANTS)} (default: all)")
    p.add_argument("--methods", help=f"comma-separated subset of: {', '.join(attack.METHODS)} (default: all)")
    p.add_argument("--cache-dir", help="anchor-image cache (default: a temporary folder)")
    p.add_argument("--weights-dir", help="erased weights kept for a resume (default: <output dir>/attack_study)")
    p.add_argument("--progress", action="store_true", help="progress bars")

    def body() -> None:
        args = p.parse_args(argv)
        config.device()
        b = budget()
        for option, accepted in (("variants", tuple(VARIANTS)), ("methods", attack.METHODS)):
            text = getattr(args, option)
            if text is not None:
                b = dataclasses.replace(b, **{option: validate.comma_subset(f"--{option}", text, accepted)})
        run_with_scratch(args, "attack_study", lambda: study(
            args.out, args.model, b, cache_dir=args.cache_dir, weights_dir=args.weights_dir, progress=args.progress))

    return validate.run(body)


if __name__ == "__main__":
    sys.exit(main())
