"""Where along the sampler fs-guide's run changes the samples (lesson 03 section 7.17).

The sampler calls the denoiser once per DDIM step, at one timestep t. Sampling with the unlearned network inside one
band of timesteps and the pretrained network everywhere else splits a run's effect by where it acts:

* inside the correction's band [forget_t_min, guide_t_max): the change the target asked for;
* below it and above it: what the network changed where its target was the pretrained prediction (nothing asked).

Each row is one unlearning run (variant, seed) scored four times on the same sampler noise: the unlearned network
everywhere (the model itself), only inside the band, only below it, only above it::

    python -m fdunlearn.vdu_digits bands --model mnist-ddpm --digit 3 --variants fs-guide-ema,fs-guide-ema-scale1.25 \\
        --out FILE.json      # lesson 03's file: vdu_digits.COMMANDS["fs-guide-bands"]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import torch
from diffusers import UNet2DModel

from fdunlearn.models import ddpm
from fdunlearn.models import registry as models
from fdunlearn.studies import guide_fit, vdu_study
from fdunlearn.studies.results import Results, mean_sd_float
from fdunlearn.unlearning import unlearn

PARTS = ("everywhere", "inside the band", "below the band", "above the band")


class BandSwitch:
    """A denoiser that is ``new`` at ``lo`` <= t < ``hi`` and ``old`` elsewhere (called as ``ddpm.sample`` calls a
    UNet: ``net(x_t, t).sample``, t one timestep or one per row)."""

    def __init__(self, new: UNet2DModel, old: UNet2DModel, lo: int, hi: int) -> None:
        if not 0 <= lo < hi <= ddpm.T_STEPS:
            raise ValueError(f"band [{lo}, {hi}); accepted: 0 <= lo < hi <= {ddpm.T_STEPS}")
        self.new, self.old, self.lo, self.hi = new, old, lo, hi
        self.config, self.device = new.config, new.device

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor | int):
        on = (torch.as_tensor(t) >= self.lo) & (torch.as_tensor(t) < self.hi)
        if on.numel() == 1:
            return (self.new if bool(on) else self.old)(x_t, t)
        out = self.old(x_t, t)
        if on.any():
            out.sample[on] = self.new(x_t[on], torch.as_tensor(t)[on]).sample
        return out


def parts(lo: int, hi: int) -> dict[str, tuple[int, int]]:
    """The four bands a run is scored with, for a correction acting at ``lo`` <= t < ``hi`` (empty ones left out)."""
    bands = dict(zip(PARTS, ((0, ddpm.T_STEPS), (lo, hi), (0, lo), (hi, ddpm.T_STEPS)), strict=True))
    return {name: band for name, band in bands.items() if band[0] < band[1]}


def bands(model: str, out: str | Path, digit: int, variants: tuple[str, ...], seeds: tuple[int, ...] = (0, 1, 2),
          cfg0: unlearn.UnlearnConfig | None = None, n_samples: int | None = None) -> Path:
    """Run (or resume) one fs-guide run per variant and seed and score its samples with the network switched by band;
    the pretrained model is scored once per seed on the same sampler noise (FID rises are against it)."""

    def switch(cfg: unlearn.UnlearnConfig, old: UNet2DModel, *_) -> Callable[[int, int], BandSwitch]:
        from fdunlearn.studies import vdu_digits as vd  # vdu_digits' command line dispatches here

        new = vd.unlearned_net(model, cfg)
        return lambda lo, hi: BandSwitch(new, old, lo, hi)

    return sampled_parts("bands", model, out, digit, variants, seeds, cfg0, n_samples,
                         lambda cfg: parts(cfg.forget_t_min, cfg.guide_t_max), switch)


def sampled_parts(study: str, model: str, out: str | Path, digit: int, variants: tuple[str, ...],
                  seeds: tuple[int, ...], cfg0: unlearn.UnlearnConfig | None, n_samples: int | None,
                  parts_of: Callable[[unlearn.UnlearnConfig], dict[str, tuple[int, int]]],
                  prepare: Callable[..., Callable[[int, int], object]]) -> Path:
    """The loop of ``bands`` and ``guide_target.target``: per seed the pretrained model scored once; per variant,
    ``prepare(cfg, pretrained_unet, scheduler, record)`` gives a denoiser maker, called with each part's band
    (``parts_of(cfg)``: name -> (lo, hi)) and scored on the same sampler noise; rows resume by variant, seed, part."""
    from fdunlearn.studies import vdu_digits as vd  # vdu_digits' command line dispatches here

    guide_fit.check_runs(study, digit, variants, seeds)
    cfg0 = cfg0 or unlearn.UnlearnConfig()
    b = vd._budget(n_samples)
    old, scheduler, rec = models.load_ddpm(model)
    dataset = rec["recipe"]["dataset"]
    results = Results(out, vd._settings(study, model, dataset, b, cfg0, digit=digit))
    for seed in seeds:
        base = results.get(f"base/seed={seed}")
        if base is None:
            base = {"key": f"base/seed={seed}", "variant": "pretrained", "seed": seed,
                    **brief_score(vdu_study.draw(old, scheduler, b, seed), dataset, digit, b)}
            results.add(base)
        for v in variants:
            cfg = dataclasses.replace(cfg0, forget_class=digit, seed=seed, **vd.VARIANTS[v])
            todo = {name: band for name, band in parts_of(cfg).items()
                    if results.get(f"{v}/seed={seed}/{name}") is None}
            if not todo:
                continue
            print(f"[vdu_digits] {study} {v}/digit={digit}/seed={seed}", flush=True)
            make = prepare(cfg, old, scheduler, rec)
            for name, (lo, hi) in todo.items():
                row = brief_score(vdu_study.draw(make(lo, hi), scheduler, b, seed), dataset, digit, b)
                results.add({"key": f"{v}/seed={seed}/{name}", "variant": v, "seed": seed, "part": name,
                             "band": [lo, hi], **row, "fid_rise": row["fid_remaining"] / base["fid_remaining"] - 1})
    return Path(out)


def brief_score(images: torch.Tensor, dataset: str, digit: int, b) -> dict:
    """The four numbers the fs-guide studies keep of a scoring (``vdu_study.score_images``): the forget share, FID on
    the remaining digits, and the smallest and largest other digit."""
    row = vdu_study.score_images(images, dataset, digit, b)
    return {k: row[k] for k in ("forget_share", "fid_remaining", "other_min", "other_max")}


def summary(results: dict) -> dict[tuple[str, str], dict]:
    """Per (variant, part): the band, and mean ± sd over seeds of the forget share and the FID rise; the pretrained
    model's forget share under (``pretrained``, ``everywhere``)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in results["rows"]:
        groups.setdefault((r["variant"], r.get("part", "everywhere")), []).append(r)
    out = {}
    for key, rows in groups.items():
        out[key] = {"band": rows[0].get("band", [0, ddpm.T_STEPS]), "seeds": len(rows),
                    "forget": mean_sd_float([r["forget_share"] for r in rows]),
                    "fid_rise": mean_sd_float([r["fid_rise"] for r in rows]) if "fid_rise" in rows[0] else None}
    return out


def markdown(results: dict, column: str = "unlearned network used at", pretrained: str = "nowhere (pretrained)") -> str:
    """``summary`` as a table: one line per variant and band (``column``: the band column's header; ``pretrained``: what
    that column says on the pretrained model's line)."""
    lines = [f"| variant | {column} | seeds | forget share (%) | FID rise on the rest (%) |", "|---|---|---|---|---|"]
    for (v, name), s in summary(results).items():
        where = pretrained if v == "pretrained" else f"{name}: {s['band'][0]} <= t < {s['band'][1]}"
        fid = "–" if s["fid_rise"] is None else f"{100 * s['fid_rise'][0]:+.0f} ± {100 * s['fid_rise'][1]:.0f}"
        lines.append(f"| {v} | {where} | {s['seeds']} | {100 * s['forget'][0]:.2f} ± {100 * s['forget'][1]:.2f} | "
                     f"{fid} |")
    return "\n".join(lines)


def headline(results: dict, command: str) -> str:
    """One sentence for the README: per variant, the forget share and FID rise with the unlearned network used
    everywhere, only inside the band and only outside it (below, above)."""
    s = summary(results)
    return (f"Where along the sampler a run changes the samples (section 7.17, `{command}`; share of digit "
            f"{results['settings']['digit']} and FID rise on "
            "the other digits with the unlearned network used only at those timesteps, the pretrained one elsewhere; "
            f"mean over seeds; the pretrained model {100 * s['pretrained', 'everywhere']['forget'][0]:.1f}%): "
            + cells(s, PARTS) + ".")


def cells(s: dict[tuple[str, str], dict], names: tuple[str, ...]) -> str:
    """Per variant of a ``summary``: each part in ``names`` as "part F% at R% FID" (means), the variants joined by
    semicolons (the README sentences of this study and ``guide_target``'s)."""

    def cell(v: str, name: str) -> str:
        return f"{name} {100 * s[v, name]['forget'][0]:.1f}% at {100 * s[v, name]['fid_rise'][0]:+.0f}% FID"

    return "; ".join(f"{v}: " + ", ".join(cell(v, name) for name in names if (v, name) in s)
                     for v in dict.fromkeys(v for v, _ in s if v != "pretrained"))


def plot(axes, results: dict) -> None:
    """Two panels: forget share and FID rise per part (bars, mean ± sd over seeds), one colour per variant; the
    pretrained model's forget share as a dashed line."""
    s = summary(results)
    variants = list(dict.fromkeys(v for v, _ in s if v != "pretrained"))
    width = 0.8 / max(1, len(variants))
    for i, v in enumerate(variants):
        names = [n for n in PARTS if (v, n) in s]
        xs = [PARTS.index(n) + (i - (len(variants) - 1) / 2) * width for n in names]
        for ax, field in zip(axes, ("forget", "fid_rise"), strict=True):
            ax.bar(xs, [100 * s[v, n][field][0] for n in names], width, yerr=[100 * s[v, n][field][1] for n in names],
                   capsize=3, label=v)
    if ("pretrained", "everywhere") in s:
        axes[0].axhline(100 * s["pretrained", "everywhere"]["forget"][0], ls="--", c="grey", label="pretrained")
    for ax, label in zip(axes, ("forget share (%)", "FID rise on the other digits (%)"), strict=True):
        ax.set_xticks(range(len(PARTS)), [n.replace(" the ", "\nthe ") for n in PARTS])
        ax.set_ylabel(label)
    axes[1].axhline(0, c="black", lw=0.8)
    axes[0].legend(fontsize=8)
