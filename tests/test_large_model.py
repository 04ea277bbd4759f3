"""large_model: lesson 03 section 7.23's reading of fs-guide-ema on mnist-ddpm-large beside mnist-ddpm."""

import json

import matplotlib
import pytest

from fdunlearn.studies import large_model

matplotlib.use("Agg")
import matplotlib.pyplot as plt

GRID = ("iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAAAAABX3VL4AAAAC0lEQVR4nGNgQAcAAA4AAQ5Wx6MAAAAASUVORK5CYII=")  # 2x2 black


def _table(shares: dict[tuple[str, int, int], float]) -> dict:
    rows = []
    for (variant, digit, seed), share in shares.items():
        key = f"{'base' if variant == 'pretrained' else variant}/digit={digit}/seed={seed}"
        rows.append({"key": key, "variant": variant, "digit": digit, "seed": seed, "forget_share": share,
                     "fid_remaining": 3.0, "fid_remaining_rise": 0.1 if variant != "pretrained" else None,
                     "pul": 90.0, "entropy": 0.1, "confident_share": 0.9, "other_min": 0.08, "other_max": 0.12,
                     "unlearn_seconds": 300.0 if variant != "pretrained" else None, "steps_run": 200,
                     "grid_png": GRID})
    return {"rows": rows, "settings": {"budget": {"n_samples": 1000, "ddim_steps": 25, "eta": 1.0,
                                                  "seeds": [0, 1, 2]}}}


def test_parameters_are_counted_from_the_recipes():
    large, small = large_model.parameters("mnist-ddpm-large"), large_model.parameters("mnist-ddpm")
    assert large > 5 * small > 0


def test_recipe_line_reads_the_record_and_names_both_models():
    rec = {"kind": "ddpm", "recipe": {}, "hardware": "GPU X", "train_seconds": 249.5, "torch_version": "2.x",
           "data_source": "d", "final_loss": 0.0163, "sha256": "ab" * 32}
    line = large_model.recipe_line(rec)
    assert line.startswith("mnist-ddpm-large: 3.94M parameters, channels 32/64/128, 2 layer(s) per block")
    assert "mnist-ddpm: 0.69M parameters" in line and "trained on GPU X in 250 s" in line
    assert "final loss 0.0163" in line and "ababababab" in line


def test_load_record_names_a_file_that_is_not_a_training_record(tmp_path):
    bad = tmp_path / "record.json"
    bad.write_text(json.dumps({"kind": "classifier"}))
    with pytest.raises(ValueError, match=r"record.json is not a DDPM training record; accepted: a copy of runs/"):
        large_model.load_record(bad)
    with pytest.raises(FileNotFoundError):
        large_model.load_record(tmp_path / "missing.json")


def test_seeds_lines_and_cpu_line_read_the_tables():
    large = _table({("pretrained", 3, 0): 0.10, ("fs-guide-ema", 3, 0): 0.02, ("fs-guide-ema", 3, 1): 0.01,
                    ("pretrained", 3, 1): 0.11, ("pretrained", 7, 0): 0.09, ("fs-guide-ema", 7, 0): 0.005})
    small = _table({("pretrained", 3, 0): 0.11, ("fs-guide-ema", 3, 0): 0.017})
    assert large_model.seeds_line(large) == "digit 3: seed(s) 0, 1; digit 7: seed(s) 0"
    lines = large_model.lines(large, small)
    assert [line.split(":")[0] for line in lines] == ["mnist-ddpm-large", "mnist-ddpm", "mnist-ddpm-large"]
    assert lines[0] == ("mnist-ddpm-large: fs-guide-ema, digit 3: 1.5 ± 0.7% left (pretrained 10.5%), FID on the "
                        "other digits +10 ± 0%, 300 s per run on the GPU; bars missed (the time bar aside): forget "
                        "share <= 1%")
    assert lines[1].startswith("mnist-ddpm: fs-guide-ema, digit 3: 1.7 ± 0.0% left") and "time <= 2 min" in lines[1]
    seven = large_model.lines(large, None, digits=(7,))
    assert len(seven) == 1 and seven[0].startswith("mnist-ddpm-large: fs-guide-ema, digit 7: 0.5")
    cpu = _table({("pretrained", 7, 2): 0.1, ("fs-guide-ema", 7, 2): 0.006})
    assert large_model.cpu_line(cpu) == ("mnist-ddpm-large on the CPU: digit 7, seed 2: 0.6% left (pretrained 10.0%), "
                                         "FID on the other digits +10%, 300 s for the run on 2 cores (2.5x the 120 s "
                                         "bar)")
    cpu["rows"][1]["replay"] = {"cached": False, "seconds": 180.0}
    assert large_model.cpu_line(cpu).endswith("(2.5x the 120 s bar, of which 180 s drew the replay set (cached for "
                                              "later runs: 1.0x the bar without it))")
    both = large_model.combined(large, cpu)
    assert large_model.seeds_line(both) == "digit 3: seed(s) 0, 1; digit 7: seed(s) 0, 2"
    assert len(both["rows"]) == len(large["rows"]) + 1 and len(large["rows"]) == 6
    assert both["rows"][-1]["unlearn_seconds"] is None and cpu["rows"][1]["unlearn_seconds"] == 300.0


def test_figure_draws_both_models_and_marks_a_run_that_is_missing():
    large = _table({("pretrained", 3, 0): 0.10, ("fs-guide-ema", 3, 0): 0.02})
    small = _table({("pretrained", 3, 0): 0.11})
    fig = large_model.figure(large, small, digit=3, seed=0)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["mnist-ddpm-large, pretrained: 10.0% 3s", "mnist-ddpm-large, fs-guide-ema: 2.0% 3s",
                      "mnist-ddpm, pretrained: 11.0% 3s", "mnist-ddpm, fs-guide-ema: not run"]
    plt.close(fig)
