import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from fdunlearn.studies import vdu_report


def _row(method, prior, seed, share, fid_rise, **kw):
    base = {"key": f"{method}/{seed}", "method": method, "prior": prior, "seed": seed, "forget_share": share,
            "pul": None if method == "pretrained" else 100 * (0.1 - share) / 0.1, "fid_remaining": 10 * (1 + fid_rise),
            "fid_remaining_rise": None if method == "pretrained" else fid_rise, "entropy": 0.1,
            "confident_share": 0.9, "other_min": 0.08, "other_max": 0.12, "unlearn_seconds": 30.0, "steps_run": 100}
    return base | kw


RESULTS = {"settings": {"budget": {"n_samples": 1000, "ddim_steps": 50, "seeds": [0, 1]}},
           "rows": [_row("pretrained", None, 0, 0.10, 0.0), _row("pretrained", None, 1, 0.11, 0.0),
                    _row("vdu", "checkpoints", 0, 0.005, 0.10), _row("vdu", "checkpoints", 1, 0.015, 0.12),
                    _row("ga", "checkpoints", 0, 0.0, 5.0, other_min=0.0, other_max=1.0),
                    _row("ga", "checkpoints", 1, 0.0, 6.0, other_min=0.0, other_max=1.0)]}


def test_rows_are_means_and_sample_sds_over_seeds():
    rows = vdu_report.method_rows(RESULTS)
    assert list(rows) == ["pretrained", "vdu-checkpoints", "ga-checkpoints"]
    mean, sd = rows["vdu-checkpoints"]["forget_share"]
    assert mean == pytest.approx(0.01) and sd == pytest.approx(math.sqrt(2) * 0.005)
    assert math.isnan(rows["pretrained"]["pul"][0])  # PUL is undefined for the model itself


def test_bars_are_checked_on_the_means():
    rows = vdu_report.method_rows(RESULTS)
    assert vdu_report.check_bars(rows["vdu-checkpoints"]) == {
        "forget share <= 1%": True, "FID rise <= 15%": True, "other classes within 6-16%": True,
        "time <= 2 min": True}
    ga = vdu_report.check_bars(rows["ga-checkpoints"])
    assert not ga["FID rise <= 15%"] and not ga["other classes within 6-16%"]


def test_bars_read_float32_shares_at_their_count():
    """12, 8 and 10 of 1,000 samples stored as float32 average to 0.0100000001: exactly 1%, so the bar is met."""
    stats = {"forget_share": (sum([0.012000000104308128, 0.00800000037997961, 0.009999999776482582]) / 3, 0.002),
             "fid_remaining_rise": (0.1, 0.0), "other_min": (0.06000000163, 0.0), "other_max": (0.16000000238, 0.0),
             "unlearn_seconds": (60.0, 0.0)}
    assert stats["forget_share"][0] > 0.01
    assert all(vdu_report.check_bars(stats).values())
    assert not vdu_report.check_bars(stats | {"forget_share": (0.011, 0.0)})["forget share <= 1%"]


def test_table_has_a_line_per_row_with_the_budget_in_the_header():
    text = vdu_report.table_markdown(RESULTS)
    lines = text.splitlines()
    assert "1000 samples, DDIM 50, seeds 2" in lines[0] and len(lines) == 2 + 3
    assert "VDU, checkpoint prior" in lines[3] and "1.0 ± 0.7" in lines[3]


def test_sweeps_and_plots_read_the_rows():
    results = {"rows": [{"gamma": g, "seed": s, "forget_share": g + s} for g in (0.5, 0.9) for s in (0, 1)]}
    xs, mean, sd = vdu_report.sweep(results, "gamma", "forget_share")
    assert xs == [0.5, 0.9] and mean == pytest.approx([1.0, 1.4]) and sd[0] == pytest.approx(math.sqrt(0.5))
    _, ax = plt.subplots()
    vdu_report.plot_sweep(ax, results, "gamma", "forget_share", x_transform=lambda g: 1 - g)
    plt.close("all")


def test_missing_or_unknown_results_name_the_way_out(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"python -m fdunlearn\.vdu_study gamma --model mnist-ddpm"):
        vdu_report.load("vdu-mnist-gamma", tmp_path)
    with pytest.raises(ValueError, match="unknown results 'nope'; accepted: vdu-mnist-table"):
        vdu_report.load("nope", tmp_path)


def test_command_names_the_study_and_the_results_file():
    assert vdu_report.command("vdu-mnist-n").startswith("python -m fdunlearn.vdu_study n-forget ")
    assert vdu_report.command("vdu-mnist-n").endswith("vdu-mnist-n.json")
    with pytest.raises(ValueError, match="accepted: vdu-mnist-table"):
        vdu_report.command("vdu-nothing")


def _digit_rows():
    rows = []
    for d in (3, 7):
        for seed in (0, 1):
            rows.append(_row("pretrained", None, seed, 0.1, 0.0) | {"variant": "pretrained", "digit": d})
            ok = d == 3
            rows.append(_row("vdu-fs", None, seed, 0.004 if ok else 0.03, 0.05) | {"variant": "vdu-fs", "digit": d})
    return {"settings": {"budget": {"n_samples": 1000, "ddim_steps": 25, "eta": 1.0, "seeds": [0, 1]}}, "rows": rows}


def test_digits_table_has_a_line_per_digit_and_variant_with_its_bars():
    text = vdu_report.digits_markdown(_digit_rows())
    lines = text.splitlines()
    assert "1000 samples, DDIM 25, eta 1" in lines[0] and len(lines) == 2 + 4
    assert "| 3 | vdu-fs" in text and "all met" in lines[3]
    assert "missed: forget share <= 1%" in lines[5]
    bars = vdu_report.digits_bars(_digit_rows())
    assert list(bars) == [3, 7] and all(bars[3].values()) and not bars[7]["forget share <= 1%"]


def test_digits_heatmap_and_trajectory_plot_draw(tmp_path):
    fig, ax = plt.subplots()
    vdu_report.digits_heatmap(ax, _digit_rows())
    assert [t.get_text() for t in ax.texts] == ["10.0", "10.0", "0.4", "3.0"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["3", "7"] and ax.get_xlabel() == "digit forgotten"
    assert "(%)" in ax.get_title() and "1,000 samples per model, mean over 2 seeds" in ax.get_title()
    (bar,) = [a for a in fig.axes if a is not ax]  # the colour bar, labelled with the unit
    assert bar.get_ylabel() == "forget share, %"
    fig, ax = plt.subplots()
    vdu_report.digits_heatmap(ax, _digit_rows(), field="fid_remaining_rise", colorbar=False)
    assert len(fig.axes) == 1 and [t.get_text() for t in ax.texts] == ["5", "5"]  # 0.05 -> 5%
    assert [t.get_text() for t in ax.get_yticklabels()] == ["vdu-fs"]  # the pretrained model has no rise: no row
    with pytest.raises(ValueError, match="accepted: forget_share, fid_remaining"):
        vdu_report.digits_heatmap(ax, _digit_rows(), field="kid")
    traj = {"settings": {"digit": 7}, "rows": [
        {"variant": "pretrained", "step": 0, "forget_share": 0.1, "fid_remaining": 5.0},
        {"variant": "vdu-fs", "step": 10, "forget_share": 0.05, "fid_remaining": 6.0},
        {"variant": "vdu-fs", "step": 20, "forget_share": 0.01, "fid_remaining": 6.5}]}
    _fig, axes = plt.subplots(1, 2)
    vdu_report.plot_trajectory(axes, traj)
    (line,) = [ln for ln in axes[0].lines if ln.get_label().startswith("vdu-fs")]
    assert list(line.get_xdata()) == [0, 10, 20] and list(line.get_ydata()) == [10.0, 5.0, 1.0]
    plt.close("all")


def test_vdu_fs_results_name_their_command():
    assert vdu_report.command("vdu-fs-digits").startswith("python -m fdunlearn.vdu_digits table --model mnist-ddpm")
    with pytest.raises(ValueError, match=r"accepted: .*vdu-fs-digits"):
        vdu_report.command("nope")


def test_frontier_plots_one_point_per_variant_and_digit_with_the_bar_region():
    fig, ax = plt.subplots()
    points = vdu_report.plot_frontier(ax, _digit_rows())
    assert points == {("vdu-fs", 7): pytest.approx((5.0, 3.0)), ("vdu-fs", 3): pytest.approx((5.0, 0.4))}
    labels = ax.get_legend_handles_labels()[1]
    assert "both bars met" in labels and "vdu-fs, digit 3" in labels
    handles = dict(zip(labels, ax.get_legend_handles_labels()[0], strict=True))
    fills = {d: handles[f"vdu-fs, digit {d}"][0].get_markerfacecolor() for d in (3, 7)}
    assert fills[7] == "white" and fills[3] != "white"  # the digits differ by fill, not only by a small shape
    assert ax.get_xlabel().startswith("FID rise") and ax.get_ylabel().startswith("share of the forgotten")
    with pytest.raises(ValueError, match=r"no vdu-fs rows for digits \(5,\); the files hold digits \[3, 7\]"):
        vdu_report.plot_frontier(ax, _digit_rows(), digits=(5,))
    plt.close(fig)


def test_sweep_markdown_prints_the_numbers_behind_a_sweep_figure():
    results = {"rows": [{"gamma": g, "seed": s, "forget_share": g / 10 + s / 100, "fid_remaining": 20.0 + s,
                         "other_max": 0.12, "start": "vdu"} for g in (0.5, 0.9) for s in (0, 1)]}
    lines = vdu_report.sweep_markdown(results, "gamma", label="gamma").splitlines()
    assert lines[0] == ("| gamma | seeds | share of the forgotten class % | FID on the other classes "
                        "| largest other class % |")
    assert lines[2] == "| 0.5 | 2 | 5.5 ± 0.7 | 20.5 ± 0.7 | 12.0 ± 0.0 |" and len(lines) == 4
    assert len(vdu_report.sweep_markdown(results, "gamma", where={"start": "pretrained"}).splitlines()) == 2
    results["rows"].append({"method": "pretrained", "seed": 0, "forget_share": 0.1, "fid_remaining": 19.0,
                            "other_max": 0.11})
    assert vdu_report.sweep_markdown(results, "gamma").splitlines()[2] == "| pretrained | 1 | 10.0 | 19.0 | 11.0 |"
    with pytest.raises(ValueError, match=r"unknown sweep field.*'kid'.*accepted: forget_share"):
        vdu_report.sweep_markdown(results, "gamma", fields=("kid",))


def test_verdict_lines_name_the_missed_bars_per_digit():
    rows = [{"variant": v, "digit": 7, "seed": s, "forget_share": share, "pul": 0.0, "fid_remaining": 1.0,
             "fid_remaining_rise": rise, "entropy": 0.0, "confident_share": 0.9, "other_min": 0.08, "other_max": 0.12,
             "unlearn_seconds": 40.0, "steps_run": 100}
            for s in (0, 1) for v, share, rise in (("pretrained", 0.1, 0.0), ("m", 0.005, 0.3))]
    lines = vdu_report.verdict_lines(vdu_report.digit_rows({"rows": rows}), "m", (7, 3))
    assert lines == ["m, digit 7: 0.5 ± 0.0% left (pretrained 10.0%), FID on the other digits +30 ± 0%, 40 s per run; "
                     "bars missed: FID rise <= 15%"]


def test_fid_noise_line_reports_the_pretrained_spread_across_seeds():
    rows = [{"variant": "pretrained", "digit": 7, "seed": s, "fid_remaining": f} for s, f in ((0, 4.0), (1, 5.0))]
    assert vdu_report.fid_noise_line({"rows": rows}, (7,)).endswith("digit 7: 4.00–5.00 (25% apart)")
    assert vdu_report.fid_noise_line({"rows": rows[:1]}, (7,)).startswith("one sampling seed")


@pytest.mark.parametrize("share, digits", [(0.0103, 2), (0.0097, 2), (0.01, 1), (0.0107, 1), (0.017, 1), (0.009, 1)])
def test_a_share_next_to_the_forget_bar_prints_the_decimal_that_decides_it(share, digits):
    assert vdu_report.share_digits(share) == digits
    # 1.03% beside "missed: forget share <= 1%" (one decimal would print 1.0)
    stats = {("m", 3): {"forget_share": (0.0103, 0.002), "fid_remaining_rise": (0.1, 0.0), "other_min": (0.08, 0.0),
                        "other_max": (0.12, 0.0), "unlearn_seconds": (60.0, 0.0)}}
    assert vdu_report.verdict_lines(stats, "m", (3,))[0].startswith("m, digit 3: 1.03 ± 0.20% left, FID")


def test_a_rise_that_rounds_to_zero_prints_without_a_minus_sign():
    assert vdu_report._pm((-0.002, 0.14), 100, 0) == "0 ± 14"
    assert vdu_report._pm((-0.02, 0.14), 100, 0) == "-2 ± 14"
    stats = {("m", 7): {"forget_share": (0.008, 0.004), "fid_remaining_rise": (-0.002, 0.14), "other_min": (0.09, 0.0),
                        "other_max": (0.14, 0.0), "unlearn_seconds": (76.0, 0.0)}}
    assert "FID on the other digits +0 ± 14%" in vdu_report.verdict_lines(stats, "m", (7,))[0]
