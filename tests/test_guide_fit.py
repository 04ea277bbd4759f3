"""guide_fit: the share of fs-guide's correction a fine-tuned network learned (lesson 03 section 7.16)."""

import json
from types import SimpleNamespace

import pytest
import torch

from fdunlearn.models import ddpm
from fdunlearn.studies import guide_fit, vdu_digits
from fdunlearn.unlearning import guide, unlearn

SCHEDULER = ddpm.build_scheduler(ddpm.get_recipe("mnist-ddpm"))
G = torch.Generator().manual_seed(0)
REF = guide.Reference(torch.randn(6, 1, 4, 4, generator=G) + 1, torch.randn(9, 1, 4, 4, generator=G) - 1, 0.3,
                      torch.arange(9))


class Net:
    """A stand-in network: eps(x_t, t) from a function."""

    def __init__(self, f) -> None:
        self.f = f

    def __call__(self, x, t):
        return SimpleNamespace(sample=self.f(x, t))


FROZEN = Net(lambda x, t: 0.5 * x)


def _partly(share: float, scale: float) -> Net:
    """A network that moved ``share`` of the way to fs-guide's target (scale ``scale``)."""
    def f(x, t):
        shift, _ = guide.correction(x, SCHEDULER.alphas_cumprod[t], REF.forget, REF.kept, REF.pi_f)
        return 0.5 * x - share * scale * shift
    return Net(f)


@pytest.mark.parametrize("share", [0.0, 0.25, 1.0])
def test_learned_is_the_share_of_the_target_shift_the_network_moved(share):
    x0 = REF.forget[:4] * 0.9
    row = guide_fit.learned(FROZEN, _partly(share, 1.25), SCHEDULER, x0, REF, 1.25, 320)
    assert row["learned"] == pytest.approx(share, abs=1e-5)
    assert row["moved"] == pytest.approx(share * row["asked"], rel=1e-4, abs=1e-6) and row["asked"] > 1
    assert 0.5 < row["w"] <= 1


def test_nothing_learned_is_reported_where_nothing_was_asked():
    far = torch.full((3, 1, 4, 4), -1.0)  # the kept cluster: w ~ 0, so the target asks for (almost) no shift
    row = guide_fit.learned(FROZEN, FROZEN, SCHEDULER, far, REF, 1.0, 320)
    assert row["asked"] < guide_fit.MIN_ASKED and row["learned"] is None


def test_fit_refuses_other_methods_and_bad_seeds(tmp_path):
    with pytest.raises(ValueError, match="'vdu-fs' is not one; accepted: fs-guide,"):
        guide_fit.fit("mnist-ddpm", tmp_path / "f.json", 3, ("vdu-fs",))
    with pytest.raises(ValueError, match=r"seeds \[1, 1\]; accepted: distinct integers >= 0"):
        guide_fit.fit("mnist-ddpm", tmp_path / "f.json", 3, ("fs-guide-ema",), (1, 1))
    with pytest.raises(ValueError, match="unknown variant 'nope'"):
        guide_fit.fit("mnist-ddpm", tmp_path / "f.json", 3, ("nope",))


def test_fit_writes_one_row_per_run_and_resumes(fast_ddpm, tmp_path, capsys):
    out = tmp_path / "fit.json"
    assert vdu_digits.main(["fit", "--model", str(fast_ddpm), "--digit", "3", "--variants", "fs-guide",
                            "--seeds", "0", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    (row,) = results["rows"]
    assert set(row["sets"]) == {"forget images (trained on)", "held-out images of the digit", "kept replay samples"}
    assert all([r["t"] for r in per_t] == list(guide_fit.TIMESTEPS) for per_t in row["sets"].values())
    assert "[vdu_digits] fit fs-guide/digit=3/seed=0" in capsys.readouterr().out
    base = unlearn.UnlearnConfig(**results["settings"]["base_config"])  # the command line's fast-mode config
    guide_fit.fit(str(fast_ddpm), out, 3, ("fs-guide",), (0,), base)
    assert "fit fs-guide" not in capsys.readouterr().out  # resumed: nothing ran again
    table = guide_fit.markdown(results)
    assert table.count("\n| fs-guide |") == 3 and "(1 seed, mean)" in table
