"""Lesson 04's regimes view: multipliers from gaps (checked by hand), the table, the separation verdicts, the plots."""

from __future__ import annotations

import math

import matplotlib
import pytest
import torch

from fdunlearn import erase_regimes, losses, minisd, regimes_report

matplotlib.use("Agg")


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
    study_rows = [{"phase": "run", "task": "generic", "label": "Hellinger", "steps": st, "lr_mult": 1.0,
                   "target_acc": 0.1, "retained_acc": 0.97} for st in (200, 1000)]
    fig = regimes_report.plot_tradeoff(study_rows, _rows())
    assert len(fig.axes) == 2
    fig = regimes_report.plot_multipliers(torch.linspace(1e-4, 1e-2, 30), (1.0, 0.1))
    assert len(fig.axes) == 2


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
