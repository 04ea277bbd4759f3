"""Exact unlearning as lesson 03's reference: the model's own recipe retrained without class K, scored like a row.

Retraining on the data minus class K is what every unlearning method approximates (at the price of a whole training
run: 2.7 hours on 2 CPU cores for ``mnist-ddpm``). Its samples answer what the table cannot: how many samples of a
model that never saw a K the evaluation classifier still calls K. That share is what exact unlearning leaves, as the
scorer reads it: a forget bar below it would ask for more than retraining gives. The same recipe retrained on all ten
classes (``rerun``) is the control: how far the numbers move from a second training run alone.

    python -m fdunlearn.vdu_digits retrain --model mnist-ddpm --digit 3 --out runs/mnist-ddpm-without-3
    python -m fdunlearn.vdu_digits retrained --model mnist-ddpm --digits 3,7 --retrained runs \\
        --out data/results/fs-retrained.json

``retrained`` finds ``runs/mnist-ddpm-without-K`` per digit and ``runs/mnist-ddpm-rerun`` (optional), trained by
``retrain`` (``--digit -1``: the rerun). Rows are scored on the table's budget and seeds, against the table's own
pretrained rows, so they sit beside ``vdu_digits table``'s numbers.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from fdunlearn import files as io
from fdunlearn.datasets import images as data
from fdunlearn.datasets.samples import encode_grid
from fdunlearn.models import classifier as clf
from fdunlearn.models import ddpm
from fdunlearn.models import registry as models
from fdunlearn.studies import vdu_study
from fdunlearn.studies.results import Results, mean_sd_float
from fdunlearn.unlearning import unlearn

RERUN = -1  # the ``--digit`` that retrains on every class (the control)
DIGITS = (3, 7, RERUN)  # the runs lesson 03 section 7.25 reads: without 3, without 7, the control


def folder_name(model: str, digit: int) -> str:
    """The run folder ``retrain`` writes for ``digit`` (``RERUN``: every class) of ``model``."""
    stem = Path(str(model)).name
    return f"{stem}-rerun" if digit == RERUN else f"{stem}-without-{digit}"


def retrain_command(model: str, digit: int, retrained: str | Path = "runs") -> str:
    """The command line that trains ``retrain``'s run for ``digit`` into ``retrained``."""
    out = (Path(retrained) / folder_name(model, digit)).as_posix()
    return f"python -m fdunlearn.vdu_digits retrain --model {model} --digit {digit} --out {out}"


def trained(model: str, digit: int, retrained: str | Path) -> Path:
    """The finished run folder of ``retrain`` for ``digit`` under ``retrained``; a FileNotFoundError naming the command
    that makes it when there is none."""
    folder = Path(retrained) / folder_name(model, digit)
    if not (folder / "record.json").exists():
        raise FileNotFoundError(f"no retrained model at {folder}; make it with: "
                                f"{retrain_command(model, digit, retrained)} (2-3 h on 2 CPU cores)")
    return folder


def recipe_for(model: str, digit: int) -> tuple[ddpm.DDPMRecipe, int]:
    """(recipe, seed) of ``model``'s training run, minus class ``digit`` (``RERUN``: all classes)."""
    if isinstance(digit, bool) or not isinstance(digit, int) or not (digit == RERUN or 0 <= digit <= 9):
        raise ValueError(f"digit={digit!r}; accepted: a class in 0..9, or {RERUN} to retrain on every class")
    rec = models.read_record(models.resolve(model, kind="ddpm"))
    recipe = ddpm.get_recipe(rec["recipe"]["name"])
    return ddpm.without(recipe, () if digit == RERUN else (digit,)), int(rec.get("seed", 0))


def retrain(model: str, digit: int, out: str | Path, progress: bool = True) -> Path:
    """Train (or resume) ``model``'s recipe without ``digit`` into ``out``; a finished run is left as it is."""
    recipe, seed = recipe_for(model, digit)
    out = Path(out)
    if (out / "record.json").exists() and models.read_record(out).get("recipe", {}).get("name") == recipe.name:
        print(f"[vdu_retrained] {out} is a finished run of {recipe.name}")
        return out
    return ddpm.train(recipe, out, seed=seed, resume=True, progress=progress)


def _called(classifier: torch.nn.Module, images: torch.Tensor, digit: int) -> str | None:
    """A grid of the first (up to 16) samples ``classifier`` calls ``digit`` (None: there is none)."""
    labels = clf.predict(classifier, images)[0].argmax(-1)
    called = images[labels == digit][:16]
    return encode_grid(called) if len(called) else None


def real_calls(dataset: str, digit: int, classifier: torch.nn.Module | None = None) -> dict:
    """The classifier on real images: of the held-out images of every other class, the share it calls ``digit`` (what
    it does to data that holds no ``digit`` at all)."""
    heldout = data.load(dataset, "heldout", verbose=False)
    others = heldout.images[heldout.labels != digit]
    labels = clf.predict(classifier or clf.load(f"{dataset}-classifier"), others)[0].argmax(-1)
    return {"n_images": len(others), "called": int((labels == digit).sum()),
            "forget_share": float((labels == digit).float().mean())}


def score(model: str, out: str | Path, retrained: str | Path, digits: tuple[int, ...] = (3, 7),
          n_samples: int | None = None) -> Path:
    """Score each ``retrained/<model>-without-K`` (and ``<model>-rerun`` per digit, when present) like a table row."""
    from fdunlearn.studies import vdu_digits as vd  # vdu_digits' command line dispatches here

    vd._check_digits(digits)
    runs = {d: trained(model, d, retrained) for d in digits}
    if (rerun := Path(retrained) / folder_name(model, RERUN) / "record.json").exists():
        runs[RERUN] = rerun.parent
    unet, scheduler, rec = models.load_ddpm(model)
    dataset = rec["recipe"]["dataset"]
    b = vd._budget(n_samples)
    records = {str(d): models.read_record(p) for d, p in runs.items()}
    info = {k: {f: r.get(f) for f in ("sha256", "hardware", "train_seconds", "steps", "final_loss")}
            for k, r in records.items()}
    # a file scored on other weights of a run is refused (Results compares the settings, SHA-256s included)
    results = Results(out, vd._settings("retrained", model, dataset, b, unlearn.UnlearnConfig(), retrained=info))
    if results.data["settings"]["retrained"] != info:  # a resumed file: record the runs trained since (e.g. 7)
        results.data["settings"]["retrained"] |= info
        io.write_json(results.data, results.path)
    classifier = clf.load(f"{dataset}-classifier")
    for d in digits:
        if results.get(f"real/digit={d}") is None:
            results.add({"key": f"real/digit={d}", "variant": "real", "digit": d,
                         **real_calls(dataset, d, classifier)})
    for seed in b.seeds:
        drawn: dict[int | None, torch.Tensor] = {}  # this seed's samples per model (None: the pretrained one)

        def images_of(run: int | None, seed=seed, drawn=drawn) -> torch.Tensor:
            if run not in drawn:
                net, sch = (unet, scheduler) if run is None else models.load_ddpm(runs[run])[:2]
                drawn[run] = vdu_study.draw(net, sch, b, seed)
            return drawn[run]

        for d in digits:
            base = results.get(f"base/digit={d}/seed={seed}")
            if base is None:
                base = {"key": f"base/digit={d}/seed={seed}", "variant": "pretrained", "digit": d, "seed": seed,
                        **vdu_study.score_images(images_of(None), dataset, d, b)}
                results.add(base)
            for variant, run in (("retrained", d), ("rerun", RERUN)):
                key = f"{variant}/digit={d}/seed={seed}"
                if run not in runs or results.get(key) is not None:
                    continue
                print(f"[vdu_retrained] {key}", flush=True)
                images = images_of(run)
                row = {"key": key, "variant": variant, "digit": d, "seed": seed,
                       **vdu_study.score_images(images, dataset, d, b), "called_png": _called(classifier, images, d)}
                row["pul"] = vdu_study.pul(base["forget_share"], row["forget_share"])
                row["fid_remaining_rise"] = row["fid_remaining"] / base["fid_remaining"] - 1
                results.add(row)
    return Path(out)


def _rows(results: dict, variant: str, digit: int) -> list[dict]:
    return sorted((r for r in results["rows"] if r["variant"] == variant and r["digit"] == digit),
                  key=lambda r: r["seed"])


def _real(results: dict, digit: int) -> dict | None:
    return next((r for r in results["rows"] if r["variant"] == "real" and r["digit"] == digit), None)


def _share(rows: list[dict]) -> tuple[str, str]:
    """The forget share in percent: (mean ± sd over seeds, each seed's in parentheses)."""
    mean, sd = mean_sd_float([100 * r["forget_share"] for r in rows])
    return f"{mean:.2f} ± {sd:.2f}", "(" + " / ".join(f"{100 * r['forget_share']:.1f}" for r in rows) + ")"


def _rise(rows: list[dict]) -> str:
    """The FID rise on the other digits in percent, mean ± sd over seeds."""
    return "{:+.0f} ± {:.0f}".format(*mean_sd_float([100 * r["fid_remaining_rise"] for r in rows]))


def _clause(rows: list[dict], digit: int) -> str:
    share, per = _share(rows)
    return f"{share}% of its samples read as {digit} {per}, FID on the other digits {_rise(rows)}%"


LABELS = {"pretrained": "pretrained", "retrained": "retrained without the digit", "rerun": "retrained on every digit"}


def markdown(results: dict) -> str:
    """Per digit: the held-out real images of the other digits, then the pretrained, retrained and rerun rows (the
    other digits' smallest and largest share: means over seeds, as in the tables)."""
    lines = ["| digit | samples of | seeds | read as the digit % (per seed) | FID remaining | FID rise % "
             "| confident % | other digits min–max % |", "|---|---|---|---|---|---|---|---|"]
    for d in sorted({r["digit"] for r in results["rows"]}):
        real = _real(results, d)
        if real:
            lines.append(f"| {d} | real held-out images of the other digits | – | {100 * real['forget_share']:.2f} "
                         f"({real['called']} of {real['n_images']}) | – | – | – | – |")
        for v, label in LABELS.items():
            rows = _rows(results, v, d)
            if not rows:
                continue
            fid = mean_sd_float([r["fid_remaining"] for r in rows])
            conf = mean_sd_float([r["confident_share"] for r in rows])
            (lo, _), (hi, _) = (mean_sd_float([r[f] for r in rows]) for f in ("other_min", "other_max"))
            rise = "–" if v == "pretrained" else _rise(rows)
            lines.append(f"| {d} | {label} | {len(rows)} | {' '.join(_share(rows))} "
                         f"| {fid[0]:.2f} ± {fid[1]:.2f} | {rise} | {100 * conf[0]:.1f} ± {100 * conf[1]:.1f} "
                         f"| {100 * lo:.1f}–{100 * hi:.1f} |")
    return "\n".join(lines)


def lines(results: dict) -> list[str]:
    """One sentence per digit: the pretrained share, the retrained model's, the rerun's (when scored)."""
    out = []
    for d in sorted({r["digit"] for r in results["rows"]}):
        base, again = _rows(results, "pretrained", d), _rows(results, "rerun", d)
        drawn = 100 * mean_sd_float([r["forget_share"] for r in base])[0]
        text = (f"Digit {d}: the pretrained model draws {drawn:.1f}%; retrained without {d}: "
                f"{_clause(_rows(results, 'retrained', d), d)}")
        if again:
            text += f"; retrained on every digit (the control): {_clause(again, d)}"
        real = _real(results, d)
        if real:
            text += (f"; the classifier calls {real['called']} of the {real['n_images']} held-out real images of the "
                     f"other digits {d} ({100 * real['forget_share']:.2f}%)")
        out.append(text + ".")
    return out


def gap_lines(results: dict, stats: dict[tuple[str, int], dict], variants: tuple[str, ...]) -> list[str]:
    """Per digit and variant in ``stats`` (``vdu_report.digit_rows``): the share it leaves against the retrained
    model's share of the same digit, in points and as a ratio."""
    out = []
    for d in sorted({r["digit"] for r in results["rows"] if r["variant"] == "retrained"}):
        ref = mean_sd_float([r["forget_share"] for r in _rows(results, "retrained", d)])[0]
        for v in [v for v in variants if (v, d) in stats]:
            share = stats[v, d]["forget_share"][0]
            out.append(f"{v}, digit {d}: {100 * share:.2f}% left, {100 * (share - ref):+.2f} points from the "
                       f"retrained model's {100 * ref:.2f}%" + (f" ({share / ref:.1f}x)" if ref > 0 else ""))
    return out


def pass_chance(share: float, n_samples: int, n_seeds: int, bar: float) -> float:
    """The chance that a model whose samples read as the class with probability ``share`` passes the forget bar:
    that the mean over ``n_seeds`` seeds of its share among ``n_samples`` samples is at most ``bar``.

    The seeds' counts add up to one Binomial(n_seeds * n_samples, share) count, so this is that binomial's CDF at
    floor(bar * n_seeds * n_samples), summed exactly (log-gamma terms, no normal approximation)."""
    if not 0.0 <= share <= 1.0 or not 0.0 <= bar <= 1.0:
        raise ValueError(f"share={share!r}, bar={bar!r}; accepted: probabilities in [0, 1]")
    if n_samples < 1 or n_seeds < 1:
        raise ValueError(f"n_samples={n_samples!r}, n_seeds={n_seeds!r}; accepted: integers >= 1")
    total = n_samples * n_seeds
    limit = math.floor(bar * total + 1e-9)
    if share in (0.0, 1.0):
        return float(share * total <= limit)
    log_terms = [math.lgamma(total + 1) - math.lgamma(k + 1) - math.lgamma(total - k + 1) + k * math.log(share)
                 + (total - k) * math.log1p(-share) for k in range(limit + 1)]
    return min(1.0, sum(math.exp(v) for v in log_terms))


def odds_lines(results: dict, shares: dict[str, dict[int, float]], bar: float) -> list[str]:
    """How often the forget bar passes a model on the sampling noise of the tables' budget alone: the retrained
    model per digit (its mean share taken as its true share; the binomial sd of one seed's share beside the sd its
    seeds show), then each entry of ``shares`` (label -> digit -> share, e.g. a setting measured on more samples)."""
    b = results["settings"]["budget"]
    n, seeds = b["n_samples"], len(b["seeds"])
    out = []
    for d in sorted({r["digit"] for r in results["rows"] if r["variant"] == "retrained"}):
        p, sd = mean_sd_float([r["forget_share"] for r in _rows(results, "retrained", d)])
        out.append(f"digit {d}: retrained without {d}, {100 * p:.2f}% read as {d}: one seed's share on {n:,} samples "
                   f"has a binomial sd of {100 * math.sqrt(p * (1 - p) / n):.2f} points (its seeds: {100 * sd:.2f}); "
                   f"a model this good passes the {100 * bar:g}% bar on the mean of {seeds} seeds with probability "
                   f"{100 * pass_chance(p, n, seeds, bar):.0f}%")
    for label, per_digit in shares.items():
        for d, p in sorted(per_digit.items()):
            out.append(f"digit {d}: {label}, {100 * p:.2f}% read as {d}: a model this good passes it with probability "
                       f"{100 * pass_chance(p, n, seeds, bar):.0f}%")
    return out


def figure(results: dict):
    """Per digit (a row): the model retrained without it (seed 0's first samples), then per seed the samples of that
    model the classifier calls the digit. Returns the matplotlib figure."""
    import matplotlib.pyplot as plt

    from fdunlearn.datasets.samples import thumbnail

    digits = sorted({r["digit"] for r in results["rows"] if r["variant"] == "retrained"})
    seeds = sorted({r["seed"] for r in results["rows"] if r["variant"] == "retrained"})
    fig, axes = plt.subplots(len(digits), 1 + len(seeds), figsize=(2.4 * (1 + len(seeds)), 2.7 * len(digits)),
                             squeeze=False)
    for ax_row, d in zip(axes, digits, strict=True):
        rows = {r["seed"]: r for r in _rows(results, "retrained", d)}
        ax_row[0].imshow(thumbnail(rows[seeds[0]]), cmap="gray")
        ax_row[0].set_title(f"without {d}: samples", fontsize=9)
        for ax, s in zip(ax_row[1:], seeds, strict=True):
            png = rows[s].get("called_png") if s in rows else None
            if png:
                ax.imshow(thumbnail({"grid_png": png}), cmap="gray")
            ax.set_title(f"called {d}, seed {s} ({round(rows[s]['forget_share'] * rows[s]['n_samples'])})"
                         if s in rows else f"seed {s}: not run", fontsize=9)
        for ax in ax_row:
            ax.axis("off")
    fig.tight_layout()
    return fig
