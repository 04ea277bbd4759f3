"""guide_bands: a run's effect split by the timesteps at which its network is used (lesson 03 section 7.17)."""

import json
from types import SimpleNamespace

import pytest
import torch

from fdunlearn.models import ddpm
from fdunlearn.studies import guide_bands, vdu_digits


class Const:
    """A stand-in network whose prediction is one constant everywhere."""

    def __init__(self, value: float) -> None:
        self.value, self.config, self.device = value, SimpleNamespace(), torch.device("cpu")

    def __call__(self, x, t):
        return SimpleNamespace(sample=torch.full_like(x, self.value))


@pytest.mark.parametrize(("t", "expected"), [(299, 0.0), (300, 1.0), (599, 1.0), (600, 0.0), (0, 0.0)])
def test_band_switch_uses_the_new_network_only_inside_its_band(t, expected):
    net = guide_bands.BandSwitch(Const(1.0), Const(0.0), 300, 600)
    assert net(torch.zeros(2, 1, 2, 2), torch.tensor(t)).sample.unique().tolist() == [expected]


def test_band_switch_mixes_per_row_when_each_row_has_its_own_timestep():
    net = guide_bands.BandSwitch(Const(1.0), Const(0.0), 300, 600)
    out = net(torch.zeros(3, 1, 2, 2), torch.tensor([10, 450, 900])).sample
    assert out.flatten(1).mean(1).tolist() == [0.0, 1.0, 0.0]
    assert net(torch.zeros(2, 1, 2, 2), torch.tensor([10, 900])).sample.unique().tolist() == [0.0]  # none inside


@pytest.mark.parametrize("band", [(300, 300), (-1, 10), (0, ddpm.T_STEPS + 1)])
def test_band_switch_refuses_an_empty_or_out_of_range_band(band):
    with pytest.raises(ValueError, match=rf"band \[{band[0]}, {band[1]}\); accepted: 0 <= lo < hi <= 1000"):
        guide_bands.BandSwitch(Const(1.0), Const(0.0), *band)


def test_parts_cover_the_timesteps_and_leave_out_empty_bands():
    assert guide_bands.parts(300, 600) == {"everywhere": (0, 1000), "inside the band": (300, 600),
                                           "below the band": (0, 300), "above the band": (600, 1000)}
    assert set(guide_bands.parts(0, 1000)) == {"everywhere", "inside the band"}


def test_bands_refuses_other_methods_and_bad_seeds(tmp_path):
    with pytest.raises(ValueError, match="'vdu-fs' is not one; accepted: fs-guide,"):
        guide_bands.bands("mnist-ddpm", tmp_path / "b.json", 3, ("vdu-fs",))
    with pytest.raises(ValueError, match=r"seeds \[\]; accepted: distinct integers >= 0"):
        guide_bands.bands("mnist-ddpm", tmp_path / "b.json", 3, ("fs-guide",), ())


def test_bands_scores_each_part_on_the_pretrained_models_noise_and_resumes(fast_ddpm, tmp_path, capsys):
    out = tmp_path / "bands.json"
    assert vdu_digits.main(["bands", "--model", str(fast_ddpm), "--digit", "3", "--variants", "fs-guide",
                            "--seeds", "0", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    base, *rows = results["rows"]
    assert base["variant"] == "pretrained" and [r["part"] for r in rows] == list(guide_bands.PARTS)
    assert [r["band"] for r in rows] == [[0, 1000], [300, 600], [0, 300], [600, 1000]]
    for r in rows:
        assert r["fid_rise"] == pytest.approx(r["fid_remaining"] / base["fid_remaining"] - 1)
    assert "[vdu_digits] bands fs-guide/digit=3/seed=0" in capsys.readouterr().out
    assert vdu_digits.main(["bands", "--model", str(fast_ddpm), "--digit", "3", "--variants", "fs-guide",
                            "--seeds", "0", "--out", str(out)]) == 0
    assert "bands fs-guide" not in capsys.readouterr().out  # resumed: nothing ran again
    table = guide_bands.markdown(results)
    assert table.count("\n| fs-guide |") == len(rows) and "nowhere (pretrained)" in table
    sentence = guide_bands.headline(results, "CMD")
    assert "`CMD`; share of digit 3 " in sentence and all(f"{name} " in sentence for name in guide_bands.PARTS)


def test_plot_draws_one_bar_per_part_and_variant_in_each_panel():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [{"variant": "pretrained", "seed": 0, "forget_share": 0.1, "fid_remaining": 10.0}]
    for v in ("a", "b"):
        rows += [{"variant": v, "seed": 0, "part": n, "band": [0, 1000], "forget_share": 0.01, "fid_remaining": 11.0,
                  "fid_rise": 0.1} for n in guide_bands.PARTS]
    fig, axes = plt.subplots(1, 2)
    guide_bands.plot(axes, {"rows": rows})
    assert [len(ax.patches) for ax in axes] == [8, 8]
    plt.close(fig)
