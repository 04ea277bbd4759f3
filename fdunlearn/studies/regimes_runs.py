"""The regimes study's runs (``erase_regimes`` runs them; ``regimes_report`` shows them): its experiments and
divergences, its sizes (``Budget``), the run list in order, the time estimate, and what a row is labelled and holds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from fdunlearn import config
from fdunlearn.datasets import captions
from fdunlearn.erasure import erase
from fdunlearn.studies import erase_study

EXPERIMENTS = ("temperature", "sgd", "far", "critic")
CRITIC_DIVERGENCE = "hellinger"  # the variational form compared with both critics
DIVERGENCES = ("mse", "hellinger", "pearson_chi2")
LABELS = {"mse": "MSE", "hellinger": "Hellinger", "pearson_chi2": "chi^2"}
ANCHORS = {"generic": "digit", "far": ""}  # the far anchor is the empty prompt: the unconditional prediction
TASK = erase_study.TASKS["generic"]  # scored like lesson 04's generic task: "seven", every digit's other prompts
REFERENCE_LR = erase_study.REFERENCE_LR
CALIBRATION_KEY = "calibration/sgd-lr"
METRICS = ("target_acc", "heldout_acc", "retained_acc", "kid")


# Lesson 04's measured times on one core of the 2-core CPU (data/results/erasure_minisd.json, erase_study's budget):
# a 200-step K/V erasure ~20 s, scoring a pipeline (~100 images) ~13 s, 128 anchor images ~45 s. Used for the
# estimate in --help only.
STEP_SECONDS = 0.1
SCORE_SECONDS = 13.0
ANCHOR_SECONDS = 45.0


@dataclass(frozen=True)
class Budget:
    """Sizes of the study: paired seeds, erasure steps, the grids, and the scoring budget (``erase_study``'s)."""

    seeds: tuple[int, ...]
    steps: int
    divergences: tuple[str, ...]
    temperatures: tuple[float, ...]
    sgd_lr_mults: tuple[float, ...]  # multiples of the matched SGD lr
    scoring: erase_study.Budget  # images, DDIM steps and guidance that score a pipeline; anchor images


BUDGETS = {
    "full": Budget(seeds=(0, 1, 2, 3, 4), steps=200, divergences=DIVERGENCES, temperatures=(1.0, 0.3, 0.1, 0.03),
                   sgd_lr_mults=(1.0, 10.0),
                   scoring=dataclasses.replace(erase_study.BUDGETS["full"], seeds=(0, 1, 2, 3, 4))),
    "fast": Budget(seeds=(0, 1), steps=2, divergences=("mse", "hellinger"), temperatures=(1.0, 0.1),
                   sgd_lr_mults=(1.0, 10.0), scoring=dataclasses.replace(erase_study.BUDGETS["fast"], seeds=(0, 1))),
}


def budget() -> Budget:
    return BUDGETS[config.mode()]


@dataclass(frozen=True)
class Run:
    """One erasure: an experiment, a divergence, a seed, and the setting the experiment varies."""

    experiment: str
    divergence: str
    seed: int
    temperature: float = 1.0
    optimizer: str = "adam"
    lr_mult: float = 1.0  # adam: x the reference lr; sgd: x the matched SGD lr
    critic: str = ""  # "" for a closed form; "fixed" or "leaky" for the variational form (experiment "critic")

    @property
    def anchor(self) -> str:
        return ANCHORS["far" if self.experiment == "far" else "generic"]

    @property
    def setting(self) -> str:
        """What the experiment varies, e.g. "s=0.1", "sgd lr x10", "anchor ''"."""
        if self.experiment == "temperature":
            return f"s={self.temperature:g}"
        if self.experiment == "sgd":
            return f"sgd lr x{self.lr_mult:g}"
        if self.experiment == "critic":
            return f"critic {self.critic}"
        return f"anchor {self.anchor!r}"

    @property
    def key(self) -> str:
        critic = f"/critic={self.critic}" if self.critic else ""
        return (f"{self.experiment}/{self.divergence}/s={self.temperature:g}/{self.optimizer}/lr={self.lr_mult:g}"
                f"{critic}/seed={self.seed}")

    def partner(self) -> Run:
        """The run this one is compared with: MSE's (MSE ignores the temperature: its s = 1 run), or, for the leaky
        critic, the fixed critic's."""
        if self.critic:
            return dataclasses.replace(self, critic="fixed")
        return dataclasses.replace(self, divergence="mse", temperature=1.0)


FIRST_SEEDS = 3  # every experiment runs on the first three seeds before any runs on the rest


def run_list(b: Budget, experiments: tuple[str, ...] = EXPERIMENTS) -> list[Run]:
    """Every run: the first ``FIRST_SEEDS`` seeds of every experiment, then the other seeds (so an interrupted study
    already compares every regime on three paired seeds); within that, experiment by experiment, seed by seed, MSE
    first (so its weights exist when a partner runs)."""
    divs = ["mse", *(d for d in b.divergences if d != "mse")]
    runs: list[Run] = []
    for exp, seed in [(e, s) for block in (b.seeds[:FIRST_SEEDS], b.seeds[FIRST_SEEDS:]) for e in experiments
                      for s in block]:
        if exp == "temperature":
            runs += [Run(exp, d, seed, s) for d in divs for s in b.temperatures if d != "mse" or s == 1.0]
        elif exp == "sgd":
            runs += [Run(exp, d, seed, 1.0, "sgd", x) for x in b.sgd_lr_mults for d in divs]
        elif exp == "far":
            runs += [Run(exp, d, seed) for d in divs]
        elif seed in b.seeds[:FIRST_SEEDS]:  # critic: fixed (the partner) first, then leaky
            runs += [Run(exp, CRITIC_DIVERGENCE, seed, critic=c) for c in ("fixed", "leaky")]
    return runs


def estimate_seconds(b: Budget, experiments: tuple[str, ...] = EXPERIMENTS) -> float:
    """Estimated wall time of the study on one core (lesson 04's measured step, scoring and anchor times)."""
    runs = run_list(b, experiments)
    tasks = {"generic"} | ({"far"} if "far" in experiments else set())
    base = len(b.seeds) * len(tasks) * (ANCHOR_SECONDS + SCORE_SECONDS)
    calibration = len(b.seeds) * 1.0 if "sgd" in experiments else 0.0
    return len(runs) * (b.steps * STEP_SECONDS + SCORE_SECONDS) + base + calibration


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


# ----------------------------------------------------------------------------- row contents
def label(r: Run) -> str:
    """The row's label: "MSE", "Hellinger", "chi^2", or e.g. "variational Hellinger, leaky critic"."""
    name = LABELS.get(r.divergence, r.divergence)
    return f"variational {name}, {r.critic} critic" if r.critic else name


def multiplier_summary(log: list[dict]) -> dict | None:
    """The per-sample gradient multipliers over a run, from the erasure log's ``mult_*`` entries: mean (of the batch
    means), min, max, and the within-batch ratio max/min (mean and max over steps: how far one batch is from "MSE
    times a constant"; 1 for MSE). None when the log has none (a variational run)."""
    steps = [e for e in log if "mult_mean" in e]
    if not steps:
        return None
    ratios = [e["mult_max"] / e["mult_min"] for e in steps if e["mult_min"] > 0]
    return {"mean": sum(e["mult_mean"] for e in steps) / len(steps), "min": min(e["mult_min"] for e in steps),
            "max": max(e["mult_max"] for e in steps), "first": steps[0]["mult_mean"], "last": steps[-1]["mult_mean"],
            "batch_ratio_mean": sum(ratios) / len(ratios) if ratios else None,
            "batch_ratio_max": max(ratios) if ratios else None}


def concepts(anchor: str) -> list[erase.Concept]:
    """"seven" (its train phrasings) erased towards ``anchor``: "digit" (aligned templates) or "" (every target
    prompt mapped to the empty prompt)."""
    targets, anchors = captions.pairs(TASK.target, TASK.anchor)
    if anchor != TASK.anchor:
        anchors = [anchor] * len(targets)
    return [erase.Concept(tuple(targets), tuple(anchors), name=TASK.target)]
