"""What fs-guide's regression target draws when it is sampled directly, no network trained (lesson 03 section 7.19).

fs-guide trains the network towards ``guide.target``: the pretrained prediction with the Bayes correction (kernel
estimates from D_f and the kept replay samples) inside a band of timesteps. That target is itself a denoiser, so it
can be sampled (``guide.TargetDenoiser``): the unlearning the regression would give if the network fitted it exactly.
Each variant and seed is scored twice, on the tables' sampler noise and against the pretrained model's samples:

* the target as the run trains towards it (its band and scale);
* the same correction at every timestep (0 <= t < 1000).

The rows set the trained network's table rows (same seeds, same noise) against what it was asked to learn::

    python -m fdunlearn.vdu_digits target --model mnist-ddpm --digit 3 --variants fs-guide-ema,fs-guide-ema-scale1.25 \\
        --out FILE.json      # lesson 03's file: vdu_digits.COMMANDS["fs-guide-target"]
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fdunlearn.models import ddpm
from fdunlearn.studies import guide_bands, vdu_report
from fdunlearn.unlearning import guide, unlearn

PARTS = ("target in the band", "target at every t")


def target(model: str, out: str | Path, digit: int, variants: tuple[str, ...], seeds: tuple[int, ...] = (0, 1, 2),
           cfg0: unlearn.UnlearnConfig | None = None, n_samples: int | None = None) -> Path:
    """Run (or resume) the study: per seed the pretrained model once, per variant its target in its band and at every
    t, each scored on ``n_samples`` samples (FID rises against the pretrained model's, same sampler noise)."""

    def denoisers(cfg: unlearn.UnlearnConfig, unet, scheduler, rec: dict) -> Callable[[int, int], guide.TargetDenoiser]:
        x_forget, _ = unlearn.forget_set(rec["recipe"]["dataset"], cfg)
        fs = unlearn.function_prior(unet, scheduler, rec["sha256"], x_forget, cfg)
        return lambda lo, hi: guide.TargetDenoiser(fs["frozen"], scheduler, fs["guide"], cfg.guide_scale, lo, hi)

    def bands(cfg: unlearn.UnlearnConfig) -> dict[str, tuple[int, int]]:
        return dict(zip(PARTS, ((cfg.forget_t_min, cfg.guide_t_max), (0, ddpm.T_STEPS)), strict=True))

    return guide_bands.sampled_parts("target", model, out, digit, variants, seeds, cfg0, n_samples, bands, denoisers)


def markdown(results: dict, trained: dict[str, tuple[float, float]] | None = None) -> str:
    """The study as a table: per variant, its target in the band and at every t (mean ± sd over seeds); ``trained``
    adds, per variant, the trained network's (forget share, FID rise) means from its table, for comparison."""
    lines = [guide_bands.markdown(results, "denoiser sampled", "pretrained network")]
    for v, (forget, rise) in (trained or {}).items():
        lines.append(f"| {v} | the trained network (its table) | – | {100 * forget:.2f} | {100 * rise:+.0f} |")
    return "\n".join(lines)


def headline(results: dict, command: str) -> str:
    """One sentence for the README: per variant, the forget share and FID rise of its target sampled directly."""
    s = guide_bands.summary(results)
    return (f"The regression target sampled directly, no network trained (section 7.19, `{command}`; share of digit "
            f"{results['settings']['digit']} and FID rise on the other digits, mean over seeds; the pretrained model "
            f"{100 * s['pretrained', 'everywhere']['forget'][0]:.1f}%): " + guide_bands.cells(s, PARTS) + ".")


def plot(ax, results: dict, trained: dict[str, tuple[float, float]], bars: tuple[float, float]) -> None:
    """Forget share against FID rise (%, means over seeds): per variant (one colour) its target in the band (triangle),
    at every t (square) and its trained network (``trained``: (forget share, FID rise) from its table; a filled
    circle), the pretrained model as a star at zero rise; ``bars`` (forget share, FID rise) shade the bars' corner."""
    s = guide_bands.summary(results)
    variants = list(dict.fromkeys(v for v, _ in s if v != "pretrained"))
    for i, v in enumerate(variants):
        for name, marker in zip(PARTS, "^s", strict=True):
            if (v, name) in s:
                ax.plot(100 * s[v, name]["fid_rise"][0], 100 * s[v, name]["forget"][0], marker=marker, ms=8,
                        mfc="white", color=f"C{i}", ls="none", label=f"{v}: {name}")
        if v in trained:
            ax.plot(100 * trained[v][1], 100 * trained[v][0], marker="o", ms=8, color=f"C{i}", ls="none",
                    label=f"{v}: the trained network")
    ax.plot(0, 100 * s["pretrained", "everywhere"]["forget"][0], marker="*", ms=12, color="k", ls="none",
            label="pretrained")
    vdu_report.shade_bars(ax, bars)
    ax.set(xlabel="FID rise on the other digits (%)", ylabel="share of the forgotten digit (%)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
