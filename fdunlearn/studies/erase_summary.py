"""Lesson 04's erasure study read back: mean ± sd over seeds per (task, method, lr, steps), the table, the lr that
erases best, the verdicts on the paper's claims, the loader and a row filter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from fdunlearn.studies.erase_tasks import MARGIN, METHODS, RETAIN, TASKS, TIME_LIMIT_S, Method, budget
from fdunlearn.studies.results import load as load_results
from fdunlearn.studies.results import mean_sd

# ----------------------------------------------------------------------------- summaries
FIELDS = ("target_acc", "heldout_acc", "retained_acc", "kid", "seconds", "erase_seconds", "content_acc",
          "anchor_share", "anchor_seconds")


def summarise(rows: list[dict]) -> dict[tuple, dict]:
    """Mean and standard deviation over seeds of every score, keyed by (task, method, lr_mult, steps); base rows
    by (task, "base", None, None)."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        key = (r["task"], "base", None, None) if r["phase"] == "base" else (r["task"], r["method"], r["lr_mult"],
                                                                            r["steps"])
        groups.setdefault(key, []).append(r)
    out = {}
    for key, group in groups.items():
        stats = {f: mean_sd([float(r[f]) for r in group]) for f in FIELDS if all(f in r for r in group)}
        out[key] = stats | {"n_seeds": len(group), "seeds": sorted(r["seed"] for r in group),
                            "label": group[0].get("label", "base model")}
    return out


def best_lr(summary: dict, task: str, method: str, steps: int) -> float | None:
    """The swept learning rate (multiple of the reference's) that erases hardest (lowest mean target accuracy)
    while keeping mean retained accuracy >= 95% of the base's; ties go to lower KID. None when no lr keeps it
    (then the lesson shows the one that retains most)."""
    base = summary.get((task, "base", None, None))
    cands = {k[2]: v for k, v in summary.items() if k[0] == task and k[1] == method and k[3] == steps}
    if not cands or base is None:
        return None
    ok = {x: v for x, v in cands.items() if v["retained_acc"][0] >= RETAIN * base["retained_acc"][0]}
    if not ok:
        return None
    return min(ok, key=lambda x: (round(ok[x]["target_acc"][0], 6), ok[x]["kid"][0]))


def table(summary: dict, task: str = "generic", steps: int | None = None, which: str = "reference",
          methods: tuple[Method, ...] = METHODS) -> list[dict]:
    """The paper-shaped table: one entry per method (label, lr_mult, and (mean, std) of each score), at the
    reference lr (``which="reference"``) or at each method's best swept lr (``"best"``)."""
    if which not in ("reference", "best"):
        raise ValueError(f"unknown table {which!r}; accepted: reference, best")
    steps = steps or budget().steps
    out = []
    for m in methods:
        x = 1.0 if which == "reference" else best_lr(summary, task, m.key, steps)
        note = ""
        if x is None:  # no lr keeps retained accuracy: show the one that retains most
            cands = [k for k in summary if k[0] == task and k[1] == m.key and k[3] == steps]
            if not cands:
                continue
            x = max(cands, key=lambda k: summary[k]["retained_acc"][0])[2]
            note = "no swept lr keeps 95% retained; shown: the lr that retains most"
        if (s := summary.get((task, m.key, x, steps))) is None:
            continue
        out.append({"method": m.key, "label": m.label, "variational": m.variational, "lr_mult": x, "note": note,
                    **{f: s[f] for f in ("target_acc", "heldout_acc", "retained_acc", "kid", "seconds") if f in s},
                    "n_seeds": s["n_seeds"]})
    return out


def format_table(entries: list[dict], base: dict | None = None) -> str:
    """A Markdown table (percentages, mean ± std over seeds; KID on the classifier's features, unscaled,
    ``tables``), with ``tables.KID_NOTE`` under it when a KID in it is negative or smaller than its spread."""
    from fdunlearn.evaluation import tables

    kid_label = tables.kid_label(tables.CLASSIFIER_KID)

    def pct(v):
        return f"{100 * v[0]:.1f} ± {100 * v[1]:.1f}"

    def kid(row):
        return tables.format_kid(*row["kid"], scale=tables.CLASSIFIER_KID) if "kid" in row else "–"

    lines = [f"| divergence | lr (x ref) | target acc % | held-out % | retained acc % | {kid_label} "
             "| time (s) | seeds |",
             "|---|---|---|---|---|---|---|---|"]
    if base is not None:
        lines.append(f"| base model | – | {pct(base['target_acc'])} | {pct(base['heldout_acc'])} | "
                     f"{pct(base['retained_acc'])} | {kid(base)} | – | {base['n_seeds']} |")
    for e in entries:
        lines.append(f"| {e['label']} | {e['lr_mult']:g}{' *' if e['note'] else ''} | {pct(e['target_acc'])} | "
                     f"{pct(e['heldout_acc'])} | {pct(e['retained_acc'])} | {kid(e)} | "
                     f"{e['seconds'][0]:.0f} ± {e['seconds'][1]:.0f} | {e['n_seeds']} |")
    kids = [row["kid"] for row in [*([base] if base is not None else []), *entries] if "kid" in row]
    return "\n".join(lines) + tables.kid_note(kids)


def verdicts(summary: dict, steps: int | None = None, tasks: tuple[str, ...] = tuple(TASKS)) -> list[dict]:
    """The course's bars, one entry per (task, method, lr) measured on every seed of the study (the reference lr, and
    the anchor tasks' other lr): the bar, the value, pass. ``method`` names the lr when it is not the reference's."""
    steps = steps or budget().steps
    n_seeds = max((v["n_seeds"] for v in summary.values()), default=0)
    out = []
    for task_name, task in TASKS.items():
        base = summary.get((task_name, "base", None, None))
        if base is None or task_name not in tasks:
            continue
        out.append({"task": task_name, "what": "base target accuracy", "bar": ">= 90%",
                    "value": base["target_acc"], "pass": base["target_acc"][0] >= 0.90})
        limit = MARGIN if task.near else base["anchor_share"][0] + MARGIN
        for key, s in sorted(summary.items(), key=lambda kv: str(kv[0])):
            if key[0] != task_name or key[1] == "base" or key[3] != steps or (key[2] != 1.0 and s["n_seeds"] < n_seeds):
                continue
            method = key[1] if key[2] == 1.0 else f"{key[1]} (lr x{key[2]:g})"
            out.append({"task": task_name, "method": method, "what": "target accuracy after erasure",
                        "bar": f"<= {100 * limit:.1f}%" + ("" if task.near else " (anchor's own share + 3 points)"),
                        "value": s["target_acc"], "pass": s["target_acc"][0] <= limit})
            floor = RETAIN * base["retained_acc"][0]
            out.append({"task": task_name, "method": method, "what": "retained accuracy",
                        "bar": f">= {100 * floor:.1f}% (95% of base)", "value": s["retained_acc"],
                        "pass": s["retained_acc"][0] >= floor})
            if not key[1].startswith("var-"):
                out.append({"task": task_name, "method": method, "what": "time incl. anchor images",
                            "bar": f"<= {TIME_LIMIT_S:.0f} s", "value": s["seconds"],
                            "pass": s["seconds"][0] <= TIME_LIMIT_S})
    return out


def _verdict(holds: bool, tie: bool) -> dict:
    """A claimed win that comes out as equal numbers is a tie, not a win."""
    verdict = "tie" if holds and tie else "holds" if holds else "does not hold"
    return {"verdict": verdict, "holds": verdict == "holds"}


def claims(summary: dict, task: str = "generic", steps: int | None = None, which: str = "reference") -> list[dict]:
    """The paper's three claims, checked on the table (``which``): ``verdict`` "holds", "tie" (equal numbers: the
    claimed win is not there) or "does not hold", ``holds`` (True only for "holds"), and the numbers behind it."""
    rows = {e["method"]: e for e in table(summary, task, steps, which)}
    out = []
    if "mse" in rows and "hellinger" in rows:
        m, h = rows["mse"], rows["hellinger"]
        holds = h["target_acc"][0] <= m["target_acc"][0] and h["retained_acc"][0] >= m["retained_acc"][0]
        tie = h["target_acc"][0] == m["target_acc"][0] and h["retained_acc"][0] == m["retained_acc"][0]
        out.append({"claim": "Hellinger at least as good as MSE on both sides (erases as much, retains as much)",
                    **_verdict(holds, tie),
                    "evidence": f"target {100 * h['target_acc'][0]:.1f}% vs {100 * m['target_acc'][0]:.1f}%, "
                    f"retained {100 * h['retained_acc'][0]:.1f}% vs {100 * m['retained_acc'][0]:.1f}%"
                    + (" (equal: a tie, not a win)" if tie else "")})
    closed = {k: e for k, e in rows.items() if not e["variational"]}
    if "pearson_chi2" in closed and len(closed) > 1:
        hardest = min(closed.values(), key=lambda e: e["target_acc"][0])
        chi = closed["pearson_chi2"]
        others = [e for k, e in closed.items() if k != "pearson_chi2"]
        tie = chi["target_acc"][0] <= hardest["target_acc"][0] and any(
            abs(e["target_acc"][0] - chi["target_acc"][0]) < 1e-9 for e in others)
        out.append({"claim": "chi^2 erases hardest (lowest target accuracy among closed forms)",
                    **_verdict(chi["target_acc"][0] <= hardest["target_acc"][0], tie),
                    "evidence": f"chi^2 {100 * chi['target_acc'][0]:.1f}%, lowest {hardest['label']} "
                                f"{100 * hardest['target_acc'][0]:.1f}%" + (" (a tie, not a win)" if tie else "")})
    var = [e for e in rows.values() if e["variational"]]
    if var and closed:
        def mean(es, f):
            return sum(e[f][0] for e in es) / len(es)
        more = mean(var, "target_acc") < mean(closed.values(), "target_acc")
        worse = mean(var, "kid") > mean(closed.values(), "kid")
        out.append({"claim": "variational erases more but costs quality (higher KID)",
                    **_verdict(more and worse, False),
                    "evidence": f"mean target {100 * mean(var, 'target_acc'):.1f}% (variational) vs "
                                f"{100 * mean(closed.values(), 'target_acc'):.1f}% (closed); mean KID "
                                f"{mean(var, 'kid'):.3f} vs {mean(closed.values(), 'kid'):.3f}"})
    return out


def load(path: str | Path) -> dict:
    """A results file written by ``study``; FileNotFoundError with the command that writes it."""
    return load_results(path, f"python -m fdunlearn.erase_study --out {path}", "erase_study results file")


def iter_rows(results: dict, **match) -> Iterator[dict]:
    """Rows whose fields equal ``match`` (e.g. ``task="generic", method="mse"``)."""
    for r in results["rows"]:
        if all(r.get(k) == v for k, v in match.items()):
            yield r
