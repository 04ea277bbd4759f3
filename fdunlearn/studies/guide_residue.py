"""What the share left is made of: the scorer's confidence on the samples it calls the forgotten digit (lesson 03
section 7.22).

The forget share of the digits tables counts every sample whose most likely class, by the evaluation classifier, is
the forgotten digit K, however unsure. Here the same runs (same configs and seeds, so the same shares as the tables)
split that count: samples called K with probability >= ``metrics.CONFIDENT`` (a clear K), the rest (shapes half-way
between K and another digit, with that digit named as the runner-up), next to the pretrained model's split. The first
seed's samples called K are kept (as 8-bit pixels) for the lesson's picture::

    python -m fdunlearn.vdu_digits residue --model mnist-ddpm --digits 3,7 \\
        --variants fs-guide-ema,fs-guide-ema-scale1.25-lr2e4 --out FILE.json  # vdu_digits.COMMANDS["fs-guide-residue"]
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from diffusers import DDIMScheduler

from fdunlearn.evaluation import metrics
from fdunlearn.models import classifier as clf
from fdunlearn.models import registry as models
from fdunlearn.studies import guide_fit, vdu_study
from fdunlearn.studies.results import Results
from fdunlearn.unlearning import unlearn

KEEP = 24  # samples called K kept per run of the first seed (the lesson's picture)


def anatomy(probs: torch.Tensor, digit: int) -> dict:
    """Of ``probs`` (n, classes): how many samples are called ``digit``, how many of those with probability >=
    ``metrics.CONFIDENT``, and per class how often it is the runner-up of the unsure calls."""
    if probs.ndim != 2 or not 0 <= digit < probs.shape[1]:
        raise ValueError(f"probabilities of shape {tuple(probs.shape)} and digit {digit}; accepted: (n, classes) and "
                         f"0 <= digit < classes")
    called = probs.argmax(-1) == digit
    p = probs[called, digit]
    unsure = probs[called][p < metrics.CONFIDENT].clone()
    unsure[:, digit] = -1.0
    return {"n": len(probs), "called": int(called.sum()), "confident": int((p >= metrics.CONFIDENT).sum()),
            "runner_up": torch.bincount(unsure.argmax(-1), minlength=probs.shape[1]).tolist()}


def encode(images: torch.Tensor) -> list[str]:
    """Model-space images in [-1, 1] as hex strings of 8-bit pixels (one string per image)."""
    u8 = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return [bytes(x.flatten().tolist()).hex() for x in u8]


def decode(codes: list[str], shape: tuple[int, ...] = (1, 32, 32)) -> torch.Tensor:
    """``encode``'s strings back to images in [0, 1], shape (n, *shape)."""
    out = [torch.tensor(list(bytes.fromhex(c)), dtype=torch.float32) for c in codes]
    size = math.prod(shape)
    bad = [len(x) for x in out if len(x) != size]
    if bad:
        raise ValueError(f"an image of {bad[0]} pixels; accepted: {size} ({'x'.join(map(str, shape))})")
    return torch.stack(out).view(-1, *shape) / 255 if out else torch.zeros(0, *shape)


def _row(images: torch.Tensor, probs: torch.Tensor, digit: int, keep: bool) -> dict:
    row = anatomy(probs, digit)
    if keep:
        called = torch.nonzero(probs.argmax(-1) == digit).flatten()[:KEEP]
        row |= {"images": encode(images[called]), "p_digit": [round(float(probs[i, digit]), 3) for i in called]}
    return row


def residue(model: str, out: str | Path, digits: tuple[int, ...], variants: tuple[str, ...],
            seeds: tuple[int, ...] = (0, 1, 2), cfg0: unlearn.UnlearnConfig | None = None,
            n_samples: int | None = None) -> Path:
    """Run (or resume) each variant on each digit and seed, scored like a digits table row (same samples), and
    record ``anatomy`` of its samples and the pretrained model's; the first seed's calls kept as images."""
    from fdunlearn.studies import vdu_digits as vd  # vdu_digits' command line dispatches here

    vd._check_variants(variants)
    vd._check_digits(digits)
    guide_fit.check_seeds(seeds)
    cfg0 = cfg0 or unlearn.UnlearnConfig()
    b = vd._budget(n_samples)
    old, scheduler, rec = models.load_ddpm(model)
    dataset = rec["recipe"]["dataset"]
    scorer = clf.load(f"{dataset}-classifier")
    results = Results(out, vd._settings("residue", model, dataset, b, cfg0, confident=metrics.CONFIDENT))
    drawn: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    for digit in digits:
        for seed in seeds:
            if results.get(f"base/digit={digit}/seed={seed}") is None:
                if seed not in drawn:
                    images = vdu_study.draw(old, scheduler, b, seed)
                    drawn[seed] = images, clf.predict(scorer, images)[0]
                results.add({"key": f"base/digit={digit}/seed={seed}", "variant": "pretrained", "digit": digit,
                             "seed": seed, **_row(*drawn[seed], digit, keep=False)})
            for v in variants:
                if (todo := vd.pending_run(results, "residue", v, digit, seed, cfg0)) is None:
                    continue
                key, cfg = todo
                new = vd.unlearned_net(model, cfg)
                images = vdu_study.draw(new, scheduler, b, seed)
                results.add({"key": key, "variant": v, "digit": digit, "seed": seed,
                             **_row(images, clf.predict(scorer, images)[0], digit, keep=seed == seeds[0])})
    return Path(out)


def split(results: dict, variant: str, digit: int) -> dict:
    """Mean over seeds, as fractions of the samples: called ``digit`` (the tables' forget share), called it with
    confidence, called it unsure; the unsure calls' runner-up classes summed over seeds; the seeds."""
    rows = [r for r in results["rows"] if r["variant"] == variant and r["digit"] == digit]
    if not rows:
        have = sorted({(r["variant"], r["digit"]) for r in results["rows"]})
        raise ValueError(f"no runs of {variant!r} on digit {digit} in this file; it holds: "
                         + ", ".join(f"{v} on {d}" for v, d in have))
    called = sum(r["called"] / r["n"] for r in rows) / len(rows)
    sure = sum(r["confident"] / r["n"] for r in rows) / len(rows)
    runner = [sum(col) for col in zip(*(r["runner_up"] for r in rows), strict=True)]
    return {"called": called, "confident": sure, "unsure": called - sure, "runner_up": runner,
            "seeds": sorted(r["seed"] for r in rows)}


def line(results: dict, variant: str, digit: int) -> str:
    """One sentence: the share called ``digit``, split into sure and unsure calls (with the unsure calls' most
    frequent runner-ups), against the pretrained model's."""
    s, p = split(results, variant, digit), split(results, "pretrained", digit)
    conf = results["settings"]["confident"]
    top = sorted((n, c) for c, n in enumerate(s["runner_up"]) if n)[::-1][:3]
    named = ", ".join(f"{c} ({n})" for n, c in top) or "none"

    def of_calls(x: dict) -> str:
        return f"{round(100 * x['confident'] / x['called'])}%" if x["called"] else "none"

    return (f"{variant}, digit {digit} ({len(s['seeds'])} seeds): {100 * s['called']:.2f}% of the samples called "
            f"{digit}, {100 * s['confident']:.2f}% with p >= {conf:g} and {100 * s['unsure']:.2f}% unsure (runner-up "
            f"of the unsure calls, over all seeds: {named}); sure calls {of_calls(s)} of its calls against "
            f"{of_calls(p)} of the pretrained model's ({100 * p['called']:.2f}% called, {100 * p['confident']:.2f}% "
            "sure)")


def against_table(results: dict, table: dict) -> list[str]:
    """The runs whose share called K differs from the digits table's row of the same variant, digit and seed (the
    study re-runs the table's configs: none should); runs the table lacks are skipped."""
    rows = {(r["variant"], r["digit"], r["seed"]): r["forget_share"] for r in table["rows"]}
    return [f"{r['variant']} digit {r['digit']} seed {r['seed']}: {r['called'] / r['n']:.3f} here, "
            f"{rows[key]:.3f} in the table" for r in results["rows"]
            if (key := (r["variant"], r["digit"], r["seed"])) in rows and abs(r["called"] / r["n"] - rows[key]) > 1e-6]


def picture(fig, results: dict, variant: str, digit: int, columns: int = 12) -> int:
    """The first seed's samples called ``digit`` on ``fig``, titled with the scorer's p(digit); returns how many."""
    row = next((r for r in results["rows"] if r["variant"] == variant and r["digit"] == digit and "images" in r),
               None)
    if row is None:
        raise ValueError(f"no kept samples of {variant!r} on digit {digit} in this file")
    images = decode(row["images"])
    n = len(images)
    rows = max(1, -(-n // columns))
    fig.set_size_inches(fig.get_figwidth(), 0.5 + 1.0 * rows)
    axes = fig.subplots(rows, columns, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i, 0], cmap="gray", vmin=0, vmax=1)
            ax.set_title(f"{row['p_digit'][i]:.2f}", fontsize=8,
                         color="black" if row["p_digit"][i] >= results["settings"]["confident"] else "tab:red")
    fig.suptitle(f"{variant}, digit {digit}, seed {row['seed']}: the {n} samples called {digit} (title: p({digit}); "
                 f"red: below {results['settings']['confident']:g})", fontsize=9)
    return n


def decided(model: str, out: str | Path, digit: int, variants: tuple[str, ...], seeds: tuple[int, ...] = (0,),
            cfg0: unlearn.UnlearnConfig | None = None, n_samples: int | None = None) -> Path:
    """Run (or resume) each variant on ``digit`` and seed; along the scoring sampler (the tables' samples), record per
    timestep the share of the samples finally called ``digit`` whose one-step guess of x_0 (Ho Eq. 4 solved for x_0:
    (x_t - sqrt(1 - a_t) eps) / sqrt(a_t), by the network that samples) is already called ``digit``; the pretrained
    model's too. When a trajectory becomes the digit, against where the correction acts."""
    from fdunlearn.studies import vdu_digits as vd  # vdu_digits' command line dispatches here

    vd._check_variants(variants)
    vd._check_digits((digit,))
    guide_fit.check_seeds(seeds)
    cfg0 = cfg0 or unlearn.UnlearnConfig()
    b = vd._budget(n_samples)
    old, scheduler, rec = models.load_ddpm(model)
    scorer = clf.load(f"{rec['recipe']['dataset']}-classifier")
    results = Results(out, vd._settings("decided", model, rec["recipe"]["dataset"], b, cfg0, digit=digit))
    for seed in seeds:
        key = f"pretrained/digit={digit}/seed={seed}"
        if results.get(key) is None:
            results.add({"key": key, "variant": "pretrained", "digit": digit, "seed": seed,
                         **_read_along(old, scheduler, scorer, digit, b, seed)})
        for v in variants:
            if (todo := vd.pending_run(results, "decided", v, digit, seed, cfg0)) is not None:
                results.add({"key": todo[0], "variant": v, "digit": digit, "seed": seed,
                             **_read_along(vd.unlearned_net(model, todo[1]), scheduler, scorer, digit, b, seed)})
    return Path(out)


def _read_along(net, scheduler, scorer, digit: int, b: vdu_study.Budget, seed: int) -> dict:
    """``decided``'s measurement for one network: the timesteps after each sampler step and the share read."""
    images, trajectory = vdu_study.draw(net, scheduler, b, seed, return_trajectory=True)
    final = clf.predict(scorer, images)[0].argmax(-1) == digit
    grid = DDIMScheduler.from_config(scheduler.config)
    grid.set_timesteps(b.ddim_steps)
    after = grid.timesteps.tolist()[1:]  # the timestep x_t is at after each step but the last
    chunks = len(trajectory) // b.ddim_steps  # ddpm.sample appends each chunk's steps in turn
    read = []
    for i, t in enumerate(after):
        x = torch.cat([trajectory[c * b.ddim_steps + i] for c in range(chunks)])[final]
        if not len(x):
            read.append(None)
            continue
        a = scheduler.alphas_cumprod[t]
        with torch.no_grad():
            eps = net(x.to(net.device), torch.full((len(x),), t, device=net.device)).sample.cpu()
        x0 = ((x - (1 - a).sqrt() * eps) / a.sqrt()).clamp(-1, 1)
        read.append(float((clf.predict(scorer, x0)[0].argmax(-1) == digit).float().mean()))
    return {"final": int(final.sum()), "n": len(images), "timesteps": after, "read": read}


def half_decided(row: dict) -> int | None:
    """The largest timestep at which at least half of ``row``'s final calls already read as the digit (None: never)."""
    return next((t for t, r in zip(row["timesteps"], row["read"], strict=True) if r is not None and r >= 0.5), None)


def _from(row: dict) -> str:
    t = half_decided(row)
    return "at no step" if t is None else f"from t = {t}"


def decided_line(results: dict, variant: str) -> str:
    """One sentence per seed: how many samples end as the digit, and from which timestep half of them read as it, for
    ``variant`` against the pretrained model."""
    digit = results["settings"]["digit"]
    rows = {(r["variant"], r["seed"]): r for r in results["rows"]}
    seeds = sorted(s for v, s in rows if v == variant)
    if not seeds:
        raise ValueError(f"no runs of {variant!r} in this file; it holds: "
                         + ", ".join(sorted({v for v, _ in rows})))
    parts = []
    for s in seeds:
        mine, base = rows[variant, s], rows.get(("pretrained", s))
        part = f"seed {s}: {mine['final']} samples end as {digit}, half of them read as {digit} {_from(mine)}"
        if base:
            part += f" (the pretrained model's {base['final']}: {_from(base)})"
        parts.append(part)
    return f"{variant}, digit {digit}: " + "; ".join(parts)


def decided_plot(ax, results: dict, band: tuple[int, int] | None = None) -> None:
    """The share of the final calls read as the digit against the timestep, one curve per variant and seed; the
    correction's band shaded."""
    digit = results["settings"]["digit"]
    colour = {v: f"C{i}" for i, v in enumerate(dict.fromkeys(r["variant"] for r in results["rows"]))}
    style = {s: ("-", "--", ":", "-.")[i % 4] for i, s in enumerate(sorted({r["seed"] for r in results["rows"]}))}
    for r in results["rows"]:  # a colour per variant, a line style per seed
        ts = [t for t, x in zip(r["timesteps"], r["read"], strict=True) if x is not None]
        ax.plot(ts, [100 * x for x in r["read"] if x is not None], marker=".", color=colour[r["variant"]],
                linestyle=style[r["seed"]], label=f"{r['variant']}, seed {r['seed']} ({r['final']} end as {digit})")
    if band:
        ax.axvspan(*band, color="tab:orange", alpha=0.15, label=f"correction acts: {band[0]} <= t < {band[1]}")
    ax.invert_xaxis()  # the sampler runs from noise (left) to image (right)
    ax.set_xlabel("timestep t (sampling runs left to right)")
    ax.set_ylabel(f"% of final {digit}s already read as {digit}")
    ax.legend(fontsize=8)
