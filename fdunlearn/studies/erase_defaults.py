"""The `erase` command's defaults on MiniSD, measured: which learning rate and length meet the course's bars.

Bars (lesson 04): erasing "seven" -> "a handwritten digit" with MSE leaves a target accuracy <= 5% on HELD-OUT
phrasings (prompts never seen during the erasure), keeps retained accuracy >= 95% of the base model's, and takes at
most 3 minutes on a 2-core CPU, anchor images included.

Each candidate (lr as a multiple of the reference's 7e-5 per sample, steps) runs on the same seeds and is scored by
``erase_study.score`` with a larger held-out set than lesson 04's table (``HELDOUT_IMAGES`` images: each held-out
prompt several times, so one image is not 5 points). The anchor's own share of sevens (the base model prompted with
the anchor) is measured on every seed: a perfect mapping of "seven" onto the anchor leaves that share, so held-out
accuracy is read beside it. ``erase.MINISD_LR_MULT`` and ``erase.MINISD_STEPS`` are the candidate this study
chooses (``choose``: the fastest that meets every bar; ``fallback`` when none does); a test checks that they agree
with ``data/results/erase_defaults.json``.

The file is rewritten atomically after every run; an interrupted study resumes where it stopped::

    python -m fdunlearn.erase_defaults --out data/results/erase_defaults.json
    FDUNLEARN_FAST=1 python -m fdunlearn.erase_defaults --out outputs/erase_defaults_fast.json   # seconds
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fdunlearn import config, validate
from fdunlearn.erasure import erase
from fdunlearn.evaluation import tables
from fdunlearn.studies import erase_study
from fdunlearn.studies.results import Results, check_results_file, mean_sd
from fdunlearn.studies.results import load as load_results

__all__ = ["BARS", "BUDGETS", "Budget", "choose", "fallback", "format_summary", "headline", "load", "run_list", "study",
           "summary"]

HELDOUT_IMAGES = 60  # 10 held-out prompts x 6 (lesson 04's table: 20, i.e. 5 points per image)
BARS = {"heldout_acc": 0.05, "retained_ratio": 0.95, "seconds": 180.0}
PHASE = "defaults"


@dataclass(frozen=True)
class Budget:
    seeds: tuple[int, ...]
    # (lr multiple of the reference's, steps[, anchor images drawn away from the target[, target guided away by G[,
    # weight of the term keeping the other digits' prompts]]])
    candidates: tuple[tuple, ...]
    scoring: erase_study.Budget


BUDGETS = {
    "full": Budget(seeds=(0, 1, 2, 3, 4), candidates=((1.0, 1000), (3.0, 500), (2.0, 1000), (3.0, 1000), (1.0, 2000),
                                                      (1.0, 1000, True), (3.0, 500, True), (1.0, 1000, False, 0.5),
                                                      (1.0, 1000, False, 1.0), (1.0, 1000, False, 0.5, 1.0)),
                   scoring=dataclasses.replace(erase_study.BUDGETS["full"], seeds=(0, 1, 2, 3, 4),
                                               heldout_images=HELDOUT_IMAGES)),
    "fast": Budget(seeds=(0, 1), candidates=((1.0, 3), (3.0, 2), (1.0, 3, True), (1.0, 3, False, 1.0),
                                                 (1.0, 3, False, 1.0, 1.0)),
                   scoring=dataclasses.replace(erase_study.BUDGETS["fast"], seeds=(0, 1))),
}
FIRST_SEEDS = 3  # every candidate runs on the first three seeds before any runs on the rest


def budget() -> Budget:
    return BUDGETS[config.mode()]


def run_list(b: Budget) -> list[erase_study.Run]:
    """MSE on the generic task, every candidate on the first seeds, then on the rest."""
    mse = erase_study.Method("mse")
    order = list(b.seeds[:FIRST_SEEDS]) + list(b.seeds[FIRST_SEEDS:])
    return [erase_study.Run(PHASE, "generic", mse, *candidate[:2], s, *candidate[2:]) for s in order
            for candidate in b.candidates]


def study(out: str | Path, model: str = "minisd", b: Budget | None = None, cache_dir: str | Path | None = None,
          progress: bool = False) -> Path:
    """Run (or resume) every candidate into ``out``."""
    b = b or budget()
    check_results_file(out, study="erase_defaults")
    settings = {"model": str(model), "seeds": list(b.seeds),  # candidates may be added: rows name theirs
                "scoring": dataclasses.asdict(b.scoring), "bars": BARS, "mode": config.mode()}
    results = Results(out, settings)
    with tempfile.TemporaryDirectory() as tmp:
        s = erase_study.Study(model, results, b.scoring, Path(cache_dir or tmp), progress)
        for r in run_list(b):
            s.run(r)
    return Path(out)


def summary(results: dict) -> list[dict]:
    """One entry per candidate (in the order first run): mean and std over its seeds of held-out, target and retained
    accuracy (retained as a ratio to the base's on the same seed), held-out minus the anchor's own share of sevens
    on the same seed (what a perfect mapping to the anchor would leave), the time (median and max: one run on a
    shared machine can be slowed by other work), and whether each bar is met (accuracies on the mean, time on the
    median)."""
    rows = results["rows"]
    base = {r["seed"]: r for r in rows if r.get("phase") == "base"}
    runs: dict[tuple[float, int, bool, float, float], list[dict]] = {}
    for r in rows:
        if r.get("phase") == PHASE:
            runs.setdefault((r["lr_mult"], r["steps"], r.get("anchor_negative", False), r.get("away", 0.0),
                             r.get("preserve", 0.0)), []).append(r)
    out = []
    for (lr, steps, negative, away, preserve), group in runs.items():
        entry = {"lr_mult": lr, "steps": steps, "anchor_negative": negative, "away": away, "preserve": preserve,
                 "seeds": sorted(r["seed"] for r in group)}
        ratio = [r["retained_acc"] / base[r["seed"]]["retained_acc"] for r in group]
        for name, values in (("heldout_acc", [r["heldout_acc"] for r in group]),
                             ("target_acc", [r["target_acc"] for r in group]), ("retained_ratio", ratio),
                             ("seconds", [r["seconds"] for r in group]), ("kid", [r["kid"] for r in group])):
            entry[name] = mean_sd(values)
        # the floor: the base model's share of sevens from the anchor prompts. It stays the floor with anchor images
        # drawn away from the target: the eraser's target is the frozen model's prediction AT THE ANCHOR PROMPT (on
        # noised anchor images), so a perfect mapping copies what the anchor prompt draws from noise
        shares = [base[r["seed"]].get("anchor_share") for r in group]
        if negative:
            entry["anchor_images_share"] = mean_sd([r["anchor_images_target_share"] for r in group])
        if all(a is not None for a in shares):
            entry["anchor_share"] = mean_sd(shares)
            entry["heldout_over_anchor"] = mean_sd(
                [r["heldout_acc"] - a for r, a in zip(group, shares, strict=True)])
        entry["seconds_median"] = statistics.median(r["seconds"] for r in group)
        entry["seconds_max"] = max(r["seconds"] for r in group)
        eps = 1e-9  # means of image shares: 0.05 must meet "<= 5%" despite rounding
        entry["meets"] = {"heldout_acc": entry["heldout_acc"][0] <= BARS["heldout_acc"] + eps,
                          "retained_ratio": entry["retained_ratio"][0] >= BARS["retained_ratio"] - eps,
                          "seconds": entry["seconds_median"] <= BARS["seconds"]}
        out.append(entry)
    return out


def load(path: str | Path) -> dict:
    """A results file written by ``study``; FileNotFoundError with the command that writes it."""
    return load_results(path, f"python -m fdunlearn.erase_defaults --out {path}", "erase_defaults results file")


def choose(entries: list[dict], n_seeds: int) -> dict | None:
    """The fastest candidate measured on all ``n_seeds`` seeds that meets every bar; None if none does."""
    ok = [e for e in entries if len(e["seeds"]) == n_seeds and all(e["meets"].values())]
    return min(ok, key=lambda e: e["seconds"][0]) if ok else None


def fallback(entries: list[dict], n_seeds: int | None = None) -> dict | None:
    """When no candidate meets every bar: the fastest that keeps retained accuracy and time (the held-out bar it
    misses is then reported, not hidden); on MiniSD a longer erasure at the same lr lowers held-out accuracy by less
    than one image per seed. Plain anchor images and an unguided target (the reference's) come first: an option off
    the reference is adopted only when it meets every bar (``choose``)."""
    if n_seeds is not None:  # only candidates measured on every seed
        entries = [e for e in entries if len(e["seeds"]) == n_seeds]
    ok = [e for e in entries if e["meets"]["retained_ratio"] and e["meets"]["seconds"]] or entries
    return min(ok, key=lambda e: (e.get("anchor_negative", False) or _off_reference(e), e["seconds"][0],
                                  e["heldout_acc"][0]), default=None)


def format_summary(entries: list[dict]) -> str:
    lines = ["| lr (x ref) | steps | anchor images | target guided away | other digits kept (weight) | held-out % | "
             "held-out minus anchor's own share (points) | target % | retained / base | "
             f"{tables.kid_label(tables.CLASSIFIER_KID)} | time (s, median (max)) | seeds | bars |",
             "|" + "---|" * 13]
    for e in entries:
        bars = "all met" if all(e["meets"].values()) else "misses " + ", ".join(k for k, v in e["meets"].items()
                                                                              if not v)
        pct = {k: f"{100 * e[k][0]:.1f} ± {100 * e[k][1]:.1f}" for k in ("heldout_acc", "target_acc", "retained_ratio")}
        over = e.get("heldout_over_anchor")
        over = f"{100 * over[0]:+.1f} ± {100 * over[1]:.1f}" if over else "–"
        share = e.get("anchor_images_share")
        anchors = _anchor_label(e) + (f" ({100 * share[0]:.1f}% sevens)" if share else "")
        lines.append(f"| {e['lr_mult']:g} | {e['steps']} | {anchors} | {_away_label(e)} | {_keep_label(e)} | "
                     f"{pct['heldout_acc']} | "
                     f"{over} | {pct['target_acc']} | "
                     f"{pct['retained_ratio']}% | {tables.format_kid(*e['kid'], scale=tables.CLASSIFIER_KID)} | "
                     f"{e['seconds_median']:.0f} ({e['seconds_max']:.0f}) | {len(e['seeds'])} | {bars} |")
    return "\n".join(lines)


def _anchor_label(entry: dict) -> str:
    return "drawn away from the target" if entry.get("anchor_negative") else "plain"


def _away_label(entry: dict) -> str:
    return f"G = {entry['away']:g}" if entry.get("away") else "no (Concept Ablation)"


def _keep_label(entry: dict) -> str:
    return f"{entry['preserve']:g}" if entry.get("preserve") else "no"


def _off_reference(entry: dict) -> bool:
    """Whether the objective differs from Concept Ablation's (a guided target, or a term keeping other prompts)."""
    return bool(entry.get("away", 0.0) or entry.get("preserve", 0.0))


def is_shipped(entry: dict) -> bool:
    """Whether a candidate is the `erase` command's default on MiniSD (``erase.MINISD_*``)."""
    return (entry["lr_mult"], entry["steps"], entry.get("anchor_negative", False), entry.get("away", 0.0),
            entry.get("preserve", 0.0)) == (erase.MINISD_LR_MULT, erase.MINISD_STEPS, erase.MINISD_ANCHOR_NEGATIVE,
                                            erase.MINISD_AWAY, erase.MINISD_PRESERVE)


def _setting(e: dict) -> str:
    """The candidate in words: lr, length, anchor images, guided target, kept digits."""
    text = f"lr x{e['lr_mult']:g}, {e['steps']} steps"
    if e.get("anchor_negative"):
        share = e.get("anchor_images_share")
        text += ", anchor images drawn away from the target" + (f" ({100 * share[0]:.1f}% sevens)" if share else "")
    text += f", target guided away (G = {e['away']:g})" if e.get("away") else ""
    return text + (f", other digits kept (weight {e['preserve']:g})" if e.get("preserve") else "")


def _scores(e: dict) -> str:
    def pm(k: str) -> str:
        return f"{100 * e[k][0]:.1f} ± {100 * e[k][1]:.1f}%"

    def bar(k: str) -> str:
        return "met" if e["meets"][k] else "not met"

    return (f"leaves {pm('heldout_acc')} sevens on held-out phrasings (bar 5%: {bar('heldout_acc')}), "
            f"{pm('target_acc')} on the trained ones, keeps {pm('retained_ratio')} of the base's retained accuracy "
            f"(bar 95%: {bar('retained_ratio')}; KID {e['kid'][0]:.2f} ± {e['kid'][1]:.2f}) and takes "
            f"{e['seconds_median']:.0f} s (median; bar 180 s: {bar('seconds')})")


def headline(results: dict) -> str:
    """The measured verdict in one paragraph (README block ``erase-defaults``, lesson 04): the shipped default's
    numbers, whether any candidate meets every bar, the anchor's own share of sevens beside the held-out bar, and
    the reference objective and the other options at the default's lr and length."""
    entries = summary(results)
    n = len(results["settings"]["seeds"])
    done = [e for e in entries if len(e["seeds"]) == n]
    chosen = choose(done, n)
    shipped = next((e for e in done if is_shipped(e)), None)
    head = (f"The `erase` defaults on MiniSD (`python -m fdunlearn.erase_defaults`; MSE, \"seven\" -> \"digit\", "
            f"{len(done)} settings, {n} seeds, {HELDOUT_IMAGES} held-out images per seed): ")
    if shipped is None:
        return head + "the shipped default has not been measured yet."
    text = f"the default ({_setting(shipped)}) {_scores(shipped)}. "
    if chosen is not None:
        text += "Every bar is met. " if chosen is shipped else "Another setting meets every bar. "
    else:
        lowest = min(done, key=lambda e: e["heldout_acc"][0])
        text += (f"No setting tried meets every bar: the lowest held-out share, {100 * lowest['heldout_acc'][0]:.1f}% "
                 f"({_setting(lowest)}), keeps {100 * lowest['retained_ratio'][0]:.1f}% of retained accuracy. ")
    base_kid = [r["kid"] for r in results["rows"] if r.get("phase") == "base" and "kid" in r]
    if base_kid:
        k = mean_sd(base_kid)
        text += f"The base model's retained images: KID {k[0]:.2f} ± {k[1]:.2f}. "
    if "anchor_share" in shipped:
        a = shipped["anchor_share"]
        text += (f"The anchor prompt itself draws a seven {100 * a[0]:.1f} ± {100 * a[1]:.1f}% of the time on these "
                 "seeds: an erasure that copies the anchor prompt's prediction (Concept Ablation's target) sits at the "
                 f"5% bar; the default's held-out share minus that share: "
                 f"{100 * shipped['heldout_over_anchor'][0]:+.1f} points.")
    same = (shipped["lr_mult"], shipped["steps"])
    others = [e for e in done if e is not shipped and (e["lr_mult"], e["steps"]) == same
              and (e.get("anchor_negative") or _off_reference(e) or _off_reference(shipped))]
    for e in sorted(others, key=lambda e: (e.get("anchor_negative", False), e.get("away", 0.0),
                                           e.get("preserve", 0.0))):
        plain = not (e.get("anchor_negative") or _off_reference(e))
        name = "Concept Ablation's objective at the same lr and length" if plain else f"With {_setting(e)}, the erasure"
        text += f" {name} {_scores(e)}."
    return head + text


def main(argv: list[str] | None = None) -> int:
    full = BUDGETS["full"]
    p = validate.ArgumentParser(prog="python -m fdunlearn.erase_defaults", description=__doc__.splitlines()[0],
                                epilog=f"Full mode runs {len(run_list(full))} MSE erasures (up to "
                                f"{max(c[1] for c in full.candidates)} steps) plus the base models: about 40 minutes "
                                "on a 2-core CPU (an estimate from lesson 04's times). FDUNLEARN_FAST=1: seconds. "
                                "Resumable: rerun the same command to continue.")
    p.add_argument("--out", required=True, help="results .json (resumed when it is one; a folder or another file is "
                   "refused before any work)")
    p.add_argument("--model", default="minisd", help="minisd or a MiniSD model folder")
    p.add_argument("--cache-dir", help="anchor-image cache (default: a temporary folder)")
    p.add_argument("--progress", action="store_true", help="progress bars for each erasure")

    def body() -> None:
        args = p.parse_args(argv)
        config.device()
        check_results_file(args.out, study="erase_defaults")
        validate.scratch_folders({"--cache-dir": args.cache_dir})
        out = study(args.out, args.model, cache_dir=args.cache_dir, progress=args.progress)
        entries = summary(load(out))
        print(format_summary(entries))
        best = choose(entries, len(budget().seeds))
        if best is None and (best := fallback(entries, len(budget().seeds))) is not None:
            print("no candidate meets every bar on every seed; the fastest that keeps retained accuracy: ", end="")
        if best:
            print(f"lr x{best['lr_mult']:g}, {best['steps']} steps, {_anchor_label(best)} anchor images, target "
                  f"guided away: {_away_label(best)}, other digits kept: {_keep_label(best)} "
                  "(erase.MINISD_LR_MULT, erase.MINISD_STEPS, erase.MINISD_ANCHOR_NEGATIVE, erase.MINISD_AWAY, "
                  "erase.MINISD_PRESERVE)")
        print(f"wrote {out}")

    return validate.run(body)


if __name__ == "__main__":
    sys.exit(main())
