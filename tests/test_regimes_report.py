"""Lesson 04's regimes view: multipliers from gaps (checked by hand), the table, the separation verdicts, the plots."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.container import ErrorbarContainer

from fdunlearn.evaluation import tables
from fdunlearn.models import minisd
from fdunlearn.studies import erase_regimes, regimes_report
from fdunlearn.theory import losses


def test_multipliers_match_the_hand_derivatives_and_the_batch_measurement():
    m = torch.tensor([1e-3, 5e-3, 2e-2])
    for s in (1.0, 0.1):
        hel = regimes_report.multipliers_at(m, "hellinger", s)
        expected = torch.exp(-m.double() / (8 * s**2)) / (8 * s**2)  # d/dm of -exp(-m / (8 s^2))
        assert torch.allclose(hel, expected, rtol=1e-9)
        chi = regimes_report.multipliers_at(m, "pearson_chi2", s)
        assert torch.allclose(chi, torch.exp(m.double() / s**2) / s**2, rtol=1e-9)
    assert torch.equal(regimes_report.multipliers_at(m, "mse", 0.03), torch.ones(3, dtype=torch.float64))
    # the same as the autograd measurement on eps tensors whose per-sample mean squared gap is m
    eps_orig = torch.zeros(3, 4, 2, 2)
    eps_new = m.sqrt().view(3, 1, 1, 1).expand(3, 4, 2, 2).clone()
    measured = losses.multipliers(eps_new, eps_orig, "hellinger", temperature=0.1)
    assert torch.allclose(measured.double(), regimes_report.multipliers_at(m, "hellinger", 0.1), rtol=1e-4)


def test_the_spread_of_the_multipliers_grows_as_the_temperature_falls():
    m = torch.linspace(1e-4, 1e-2, 50)
    ratio = {s: float((w := regimes_report.multipliers_at(m, "pearson_chi2", s)).max() / w.min())
             for s in (1.0, 0.3, 0.1)}
    assert 1.0 < ratio[1.0] < ratio[0.3] < ratio[0.1]


def _row(exp, div, seed, setting, target, retained=0.98, heldout=0.1, mult=1.0):
    temperature = float(setting.split("=")[1]) if setting.startswith("s=") else 1.0
    optimizer, lr_mult = ("sgd", float(setting.rsplit("x", 1)[1])) if exp == "sgd" else ("adam", 1.0)
    r = erase_regimes.Run(exp, div, seed, temperature if div != "mse" else 1.0, optimizer, lr_mult)
    return {"key": r.key, "phase": "run", "experiment": exp, "divergence": div, "label": erase_regimes.LABELS[div],
            "setting": r.setting, "seed": seed, "partner": r.partner().key, "target_acc": target,
            "heldout_acc": heldout, "retained_acc": retained, "weight_distance": 0.0 if div == "mse" else 0.2,
            "multipliers": {"batch_ratio_max": mult, "mean": 1.0}}


def _rows():
    rows = []
    for seed in range(5):
        rows += [_row("temperature", "mse", seed, "s=1", 0.2 + 0.01 * seed),
                 _row("temperature", "hellinger", seed, "s=1", 0.2 + 0.01 * seed),  # a tie
                 _row("temperature", "hellinger", seed, "s=0.1", 0.1 + 0.01 * seed, mult=5.0),  # 10 points lower
                 _row("sgd", "mse", seed, "sgd lr x1", 0.5), _row("sgd", "hellinger", seed, "sgd lr x1", 0.9)]
    return rows


def test_separated_names_exactly_the_settings_whose_interval_excludes_zero():
    comps = erase_regimes.comparisons(_rows(), n_boot=500)
    found = regimes_report.separated(comps, ("target_acc",))
    assert sorted(found) == [("sgd", "sgd lr x1", "Hellinger", "target_acc"),
                             ("temperature", "s=0.1", "Hellinger", "target_acc")]
    table = regimes_report.settings_markdown(comps)
    assert table.count("\n") == 2 + len(comps) - 1 and "**10.0" not in table
    assert "**12.0 (-10.0 [-10.0, -10.0])**" in table  # s=0.1: mean 12%, exactly 10 points below MSE


def test_setting_means_list_mse_under_every_temperature():
    means = regimes_report.setting_means(_rows())
    assert means[("temperature", "s=0.1", "mse")] == means[("temperature", "s=1", "mse")]
    mean, sd, n = means[("temperature", "s=0.1", "hellinger")]
    assert n == 5 and math.isclose(mean, 0.12) and sd > 0


def test_the_plots_draw_from_rows():
    fig = regimes_report.plot_optimizers(_rows())
    assert len(fig.axes) == 2 and fig.axes[0].get_xticklabels()[1].get_text().startswith("SGD")
    study_rows = [{"phase": "run", "task": "generic", "label": "Hellinger", "steps": st, "lr_mult": 1.0, "seed": seed,
                   "target_acc": target, "retained_acc": 0.97} for st, seed, target in
                  ((200, 0, 0.1), (200, 1, 0.3), (1000, 0, 0.05))]
    fig = regimes_report.plot_tradeoff(study_rows, _rows())
    assert len(fig.axes) == 2
    plt.close(fig)


def _errorbars(ax) -> dict[str, tuple]:
    """label -> (x, y, y error half-widths) of each errorbar series on ``ax``."""
    out = {}
    for c in ax.containers:
        if isinstance(c, ErrorbarContainer):
            line, (_xbars, ybars) = c.lines[0], c.lines[2]
            half = [abs(seg[1][1] - seg[0][1]) / 2 for seg in ybars.get_segments()]
            out[c.get_label()] = (list(line.get_xdata()), list(line.get_ydata()), half)
    return out


def test_the_tradeoff_shows_each_mean_with_its_seed_spread_and_the_seeds():
    study_rows = [{"phase": "run", "task": "generic", "label": "Hellinger", "steps": st, "lr_mult": 1.0, "seed": seed,
                   "target_acc": target, "retained_acc": 0.97} for st, seed, target in
                  ((200, 0, 0.1), (200, 1, 0.3), (1000, 0, 0.05))]
    fig = regimes_report.plot_tradeoff(study_rows, _rows())
    left, right = fig.axes
    _, y, half = _errorbars(left)["Hellinger"]
    assert y == pytest.approx([20.0, 5.0]) and half == pytest.approx([100 * math.sqrt(0.02), 0.0])  # sd, one seed: 0
    assert sum(len(c.get_offsets()) for c in left.collections if c.get_offsets().shape[1:] == (2,)) >= 3
    assert {t.get_text() for t in left.texts} == {"200 st, lr x1 (2 seeds)", "1000 st, lr x1 (1 seed)"}
    series = _errorbars(right)
    assert set(series) == {"MSE", "Hellinger"}
    _, y, half = series["Hellinger"]  # s = 1 then s = 0.1, 5 seeds each: 0.2 + 0.01 seed, 0.1 + 0.01 seed
    assert y == pytest.approx([22.0, 12.0]) and half[0] == pytest.approx(100 * 0.01 * math.sqrt(2.5))
    assert len(series["MSE"][1]) == 1  # MSE ignores s: one point, at s = 1
    assert sorted(t.get_text() for t in right.texts) == ["s=0.1", "s=1"]  # MSE's and Hellinger's s = 1 coincide
    assert "5 seeds" in right.get_title() and "%" in right.get_xlabel() and "%" in right.get_ylabel()
    plt.close(fig)


def test_the_multiplier_histograms_mark_mse_and_state_the_unclamped_ratio():
    gaps = torch.linspace(1e-4, 1e-2, 30)
    fig = regimes_report.plot_multipliers(gaps, (1.0, 0.1))
    assert len(fig.axes) == 2
    ax = fig.axes[1]  # chi^2
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    w = regimes_report.multipliers_at(gaps, "pearson_chi2", 0.1)
    assert f"s=0.1: max/min {float(w.max() / w.min()):.3g}" in labels and "1 (MSE: every sample)" in labels
    assert any(list(line.get_xdata()) == [1.0, 1.0] for line in ax.lines)  # the dotted line at 1
    assert ax.get_xscale() == "log" and ax.get_ylabel() == "samples (of 30)"
    plt.close(fig)


def test_settings_markdown_prints_the_classifier_kid_with_the_note_when_negative():
    rows = _rows()
    for r in rows:
        r["kid"] = 2.0 if r["divergence"] == "mse" else 3.0
    comps = erase_regimes.comparisons(rows, n_boot=200)
    table = regimes_report.settings_markdown(comps, ("target_acc", "kid"))
    assert "| KID (classifier features), minus partner [95% CI] |" in table.splitlines()[0]
    assert "**3.00 (+1.00 [+1.00, +1.00])**" in table and tables.KID_NOTE not in table  # differs on every seed
    for r in rows:
        r["kid"] -= 4.0
    table = regimes_report.settings_markdown(erase_regimes.comparisons(rows, n_boot=200), ("target_acc", "kid"))
    assert "**-1.00 (+1.00 [+1.00, +1.00])**" in table and table.endswith(f"*{tables.KID_NOTE}*")
    assert tables.KID_NOTE not in regimes_report.settings_markdown(comps)  # no KID column, no note


def test_initial_gaps_on_a_model_leave_it_unchanged(fast_minisd, tmp_path):
    pipe = minisd.load_pipeline(str(fast_minisd))
    before = {n: p.clone() for n, p in pipe.unet.named_parameters()}
    gaps = regimes_report.initial_gaps(pipe, n=8, n_anchor_images=4, anchor_steps=2, cache_dir=tmp_path)
    assert gaps.shape == (8,) and bool((gaps >= 0).all()) and bool(torch.isfinite(gaps).all())
    assert all(torch.equal(p, before[n]) for n, p in pipe.unet.named_parameters())
    with pytest.raises(ValueError, match="n=0"):
        regimes_report.initial_gaps(pipe, n=0)


def test_findings_state_each_separation_with_its_interval_or_say_none():
    comps = erase_regimes.comparisons(_rows(), n_boot=500)
    lines = regimes_report.findings(comps, ("target_acc",))
    assert len(lines) == 2 and any("s=0.1, Hellinger: target accuracy 12.0% vs MSE's 22.0%" in x for x in lines)
    ties = [e for e in comps if e["setting"] == "s=1"]
    assert regimes_report.findings(ties)[0].startswith("no setting separates")


def test_mse_gaps_per_anchor_from_the_logged_runs():
    rows = [{"phase": "run", "divergence": "mse", "optimizer": "adam", "anchor": a, "log": [{"m": m0}, {"m": m1}]}
            for a, m0, m1 in (("digit", 8e-3, 5e-5), ("", 1.3e-2, 2e-4))]
    rows.append({"phase": "run", "divergence": "mse", "optimizer": "sgd", "anchor": "digit", "log": [{"m": 1.0}]})
    assert regimes_report.mse_gaps(rows) == {"digit": (8e-3, 5e-5), "": (1.3e-2, 2e-4)}
