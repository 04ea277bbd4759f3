"""guide_target: fs-guide's regression target sampled directly, no network trained (lesson 03 section 7.19)."""

import json
from types import SimpleNamespace

import pytest
import torch

from fdunlearn.models import ddpm
from fdunlearn.studies import guide_target, vdu_digits
from fdunlearn.unlearning import guide


class Zero:
    """A stand-in pretrained network that predicts zero noise everywhere."""

    config, device = SimpleNamespace(), torch.device("cpu")

    def __call__(self, x, t):
        return SimpleNamespace(sample=torch.zeros_like(x))


def _denoiser(t_min: int, t_max: int) -> guide.TargetDenoiser:
    g = torch.Generator().manual_seed(0)
    ref = guide.Reference(torch.rand(4, 1, 4, 4, generator=g), -torch.rand(6, 1, 4, 4, generator=g), 0.2,
                          torch.arange(6))
    return guide.TargetDenoiser(Zero(), ddpm.build_scheduler(ddpm.get_recipe("mnist-ddpm")), ref, 1.0, t_min, t_max)


def test_target_denoiser_corrects_only_inside_its_band_for_one_or_many_timesteps():
    net, x = _denoiser(300, 600), torch.zeros(3, 1, 4, 4)
    assert net(x, torch.tensor(100)).sample.abs().max() == 0  # outside: the pretrained prediction
    inside = net(x, torch.tensor(450)).sample
    assert inside.abs().max() > 0
    # the kept images are negative and the forget ones positive: E_k - E_f < 0, so the eps-space shift is positive
    assert (inside > 0).all()
    rows = net(x, torch.tensor([100, 450, 900])).sample.flatten(1).abs().amax(1)
    assert rows[0] == 0 and rows[1] > 0 and rows[2] == 0


@pytest.mark.parametrize("band", [(600, 300), (-1, 10), (0, 1001)])
def test_target_denoiser_refuses_an_empty_or_out_of_range_band(band):
    with pytest.raises(ValueError, match=rf"band \[{band[0]}, {band[1]}\); accepted: 0 <= t_min < t_max <= 1000"):
        _denoiser(*band)


def test_target_refuses_other_methods(tmp_path):
    with pytest.raises(ValueError, match="target reads fs-guide runs; 'vdu-fs' is not one; accepted: fs-guide,"):
        guide_target.target("mnist-ddpm", tmp_path / "t.json", 3, ("vdu-fs",))


def test_target_scores_the_band_and_every_t_on_the_pretrained_noise_and_resumes(fast_ddpm, tmp_path, capsys):
    out = tmp_path / "target.json"
    args = ["target", "--model", str(fast_ddpm), "--digit", "3", "--variants", "fs-guide", "--seeds", "0",
            "--out", str(out)]
    assert vdu_digits.main(args) == 0
    results = json.loads(out.read_text())
    base, *rows = results["rows"]
    assert base["variant"] == "pretrained" and [r["part"] for r in rows] == list(guide_target.PARTS)
    assert [r["band"] for r in rows] == [[300, 600], [0, 1000]] and results["settings"]["experiment"] == "target"
    for r in rows:
        assert r["fid_rise"] == pytest.approx(r["fid_remaining"] / base["fid_remaining"] - 1)
    assert "[vdu_digits] target fs-guide/digit=3/seed=0" in capsys.readouterr().out
    assert vdu_digits.main(args) == 0
    assert "target fs-guide" not in capsys.readouterr().out  # resumed: nothing ran again
    table = guide_target.markdown(results, {"fs-guide": (0.01, 0.05)})
    assert table.count("\n| fs-guide |") == len(rows) + 1 and "| fs-guide | the trained network (its table) |" in table
    sentence = guide_target.headline(results, "CMD")
    assert "`CMD`; share of digit 3 " in sentence and all(f"{name} " in sentence for name in guide_target.PARTS)


def test_plot_marks_each_target_the_trained_network_and_the_pretrained_model():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [{"variant": "pretrained", "seed": 0, "forget_share": 0.1, "fid_remaining": 10.0}]
    rows += [{"variant": "a", "seed": 0, "part": n, "band": [0, 1000], "forget_share": 0.05, "fid_remaining": 11.0,
              "fid_rise": 0.1} for n in guide_target.PARTS]
    fig, ax = plt.subplots()
    guide_target.plot(ax, {"rows": rows}, {"a": (0.02, 0.05)}, (0.01, 0.15))
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["a: target in the band", "a: target at every t", "a: the trained network", "pretrained",
                      "both bars met"]
    assert ax.lines[2].get_xdata()[0] == pytest.approx(5.0) and ax.lines[2].get_ydata()[0] == pytest.approx(2.0)
    plt.close(fig)
