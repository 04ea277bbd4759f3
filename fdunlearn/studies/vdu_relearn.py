"""Lesson 03's relearning check read out: does the forgotten class come back when the unlearned model is fine-tuned on
a few of its images, faster than it grows in the pretrained model fine-tuned the same way, or than a model that never
saw the class learns it?

``python -m fdunlearn.vdu_digits relearn`` (``vdu_study.relearn_study``) fine-tunes both models (with ``--retrained``,
also the model retrained without the class: exact unlearning) on the same forget images for 10 and 50 steps and
scores them; ``lines`` puts the starts side by side at every step count.
"""

from __future__ import annotations

from fdunlearn.studies import vdu_report, vdu_study

REFERENCES = ("pretrained", "retrained")  # the starts that are not an unlearning method's


def unlearned_start(results: dict) -> str:
    """The start that is the unlearning method's run (e.g. fs-guide for the variant fs-guide-ema): a relearning file
    holds exactly one beside its ``REFERENCES``."""
    found = sorted({r["start"] for r in results["rows"] if "start" in r} - set(REFERENCES))
    if len(found) != 1:
        raise ValueError(f"a relearning file holds one unlearned start beside 'pretrained', found {found or 'none'}")
    return found[0]


def _share(results: dict, start: str) -> dict[int, tuple[float, float]]:
    steps, mean, sd = vdu_report.sweep(results, "relearn_steps", "forget_share", {"start": start})
    return {s: (m, d) for s, m, d in zip(steps, mean, sd, strict=True)}


def lines(results: dict, label: str | None = None) -> list[str]:
    """One line per step count: the forget share (mean ± sd over seeds) from the unlearned start (named ``label``, by
    default the file's variant), beside the pretrained model's fine-tuned the same way (and the retrained model's, when
    the file has it)."""
    unlearned = unlearned_start(results)
    settings = results["settings"]
    label = label or settings.get("variant", unlearned)
    digit, n = settings["digit"], settings.get("relearn_n", vdu_study.RELEARN_N)
    ours, base, exact = _share(results, unlearned), _share(results, "pretrained"), _share(results, "retrained")
    out = []
    for steps in sorted(ours):
        (m, sd), (bm, bsd) = ours[steps], base.get(steps, (float("nan"), float("nan")))
        when = "before fine-tuning" if steps == 0 else f"after {steps} steps on {n} forget image{'s' * (n != 1)}"
        same = "the pretrained model" + ("" if steps == 0 else " fine-tuned the same way")
        ref = f"{same}: {100 * bm:.1f} ± {100 * bsd:.1f}%"
        if steps in exact:
            ref += f"; the model retrained without {digit}: {100 * exact[steps][0]:.1f} ± {100 * exact[steps][1]:.1f}%"
        out.append(f"digit {digit}, {label}, {when}: {100 * m:.1f} ± {100 * sd:.1f}% of the samples read "
                   f"as {digit} ({ref})")
    return out
