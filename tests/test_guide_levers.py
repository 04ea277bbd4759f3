"""guide_levers: every fs-guide-ema setting read together (lesson 03 section 7.21), on made-up tables."""

import matplotlib.pyplot as plt
import pytest

from fdunlearn.studies import guide_levers


def _row(variant: str, digit: int, seed: int, share: float, rise: float = 0.05) -> dict:
    return {"key": f"{variant}/digit={digit}/seed={seed}", "variant": variant, "digit": digit, "seed": seed,
            "forget_share": share, "pul": 90.0, "fid_remaining": 4.0, "fid_remaining_rise": rise, "entropy": 0.1,
            "confident_share": 0.9, "other_min": 0.09, "other_max": 0.13, "unlearn_seconds": 80.0, "steps_run": 200}


def _files() -> list[dict]:
    base = [_row("pretrained", 3, s, 0.11, 0.0) for s in (0, 1, 2)]
    a = [_row("a", 3, s, x) for s, x in zip((0, 1, 2), (0.012, 0.010, 0.005), strict=True)]
    b = [_row("b", 3, s, x, 0.30) for s, x in zip((0, 1, 2), (0.020, 0.008, 0.008), strict=True)]
    c = [_row("c", 3, 0, 0.004)]  # one seed only: left out of the per-seed comparison
    return [{"rows": base + a}, {"rows": base + b + c}]


def test_setting_line_names_the_range_the_fewest_and_who_meets_every_bar():
    line = guide_levers.setting_line(_files(), 3)
    assert line.startswith("digit 3, 3 settings: mean share left 0.40–1.20%")
    assert "FID rise on the other digits +5% to +30%" in line
    assert "fewest left: c (0.40%)" in line
    # a (0.9% mean, +5%) and c meet every bar; b misses the quality bar (+30%) and the forget bar (1.2%)
    assert line.endswith("every bar met by 2 of 3 (a, c)")


def test_seed_line_compares_seeds_within_and_settings_across():
    line = guide_levers.seed_line(_files(), 3)
    assert "the 2 settings run on seeds 0, 1, 2" in line
    assert "0: 1.60%, 1: 0.90%, 2: 0.65%" in line
    assert "the most left by seed 0 in 2, 1 in 0, 2 in 0" in line
    assert line.endswith("within a setting the seeds lie 0.7–1.2 points apart, within a seed the settings 0.2–0.8")


def test_a_digit_with_no_runs_is_named():
    with pytest.raises(ValueError, match="no runs of digit 7"):
        guide_levers.setting_line(_files(), 7)
    with pytest.raises(ValueError, match="no runs of digit 7"):
        guide_levers.seed_line(_files(), 7)


def test_one_seed_per_setting_says_so():
    files = [{"rows": [_row("a", 3, 0, 0.01), _row("b", 3, 0, 0.02)]}]
    assert guide_levers.seed_line(files, 3) == "digit 3: fewer than two seeds per setting, no seed to compare"


def test_plot_puts_every_setting_on_one_picture():
    fig, ax = plt.subplots()
    points = guide_levers.plot(ax, _files(), digits=(3,))
    plt.close(fig)
    assert set(points) == {("a", 3), ("b", 3), ("c", 3)}


def test_the_shipped_tables_load_and_read(tmp_path):
    files = guide_levers.load()
    assert len(files) == len(guide_levers.TABLES)
    for d in (3, 7):
        assert guide_levers.setting_line(files, d).startswith(f"digit {d}, ")
    with pytest.raises(FileNotFoundError, match=r"fdunlearn\.vdu_digits table"):
        guide_levers.load(tmp_path)
