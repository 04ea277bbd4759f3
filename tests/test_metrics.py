import pytest
import torch

from fdunlearn.datasets import images as data
from fdunlearn.evaluation import metrics
from fdunlearn.models import classifier


@pytest.fixture(scope="module")
def mnist_model():
    return classifier.load("mnist-classifier")


def test_real_digits_score_as_real(mnist_model):
    train = data.load("mnist", "train")
    real = train.images[torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:300]]
    r = metrics.evaluate("mnist", real, model=mnist_model)
    assert r["confident_share"] > 0.9 and all(0.05 < s < 0.15 for s in r["class_share"])
    noise = torch.rand(300, 1, 32, 32) * 2 - 1
    n = metrics.evaluate("mnist", noise, model=mnist_model)
    assert n["fid"] > 10 * r["fid"] and n["kid_mean"] > r["kid_mean"]
    # the classifier is over-confident on noise (all of it lands in one class): the histogram shows
    # the collapse, and FID/KID above are what separate noise from digits, not the confidence
    assert max(n["class_share"]) > 0.5


def test_class_subset_restricts_both_sides(mnist_model):
    held = data.load("mnist", "heldout")
    ones = held.of_class(1)
    r_sub = metrics.evaluate("mnist", ones, classes=[1], model=mnist_model)
    r_all = metrics.evaluate("mnist", ones, model=mnist_model)
    assert r_sub["n_real"] == 50 and r_all["n_real"] == 500
    assert r_sub["fid"] < r_all["fid"]  # ones compared with ones, not with every digit
    assert r_sub["class_share"][1] > 0.9


def test_kid_works_for_few_images(mnist_model):
    r = metrics.evaluate("mnist", data.load("mnist", "heldout").images[:40], model=mnist_model)
    assert r["kid_subset_size"] == 40 and r["kid_mean"] == r["kid_mean"]


def test_bad_class_lists():
    for bad in ([10], [1, 1], [], [-1]):
        with pytest.raises(ValueError, match=r"distinct integers in 0\.\.9"):
            metrics.check_classes(bad)


def test_a_class_subset_with_under_two_generated_images_says_why_instead_of_printing_nan(mnist_model):
    ones = data.load("mnist", "heldout").of_class(1)[:20]
    r = metrics.evaluate("mnist", ones, classes=[0], model=mnist_model)  # no generated zero
    assert r["n_fake"] < metrics.MIN_IMAGES and "only" in r["note"] and "classes 0" in r["note"]
    text = metrics.format_report(r)
    assert "FID=n/a" in text and "nan" not in text and r["note"] in text
    assert "note" not in metrics.evaluate("mnist", ones, classes=[1], model=mnist_model)


def test_real_digits_drawn_equally_per_class_score_below_zero(mnist_model):
    # lesson 04's retained images are 5 per digit: real digits drawn the same way sit below 0 on every draw
    kids = metrics.stratified_real_kid("mnist", [0, 1, 2, 3, 4, 5, 6, 8, 9], 5, draws=3, model=mnist_model)
    assert len(kids) == 3 and max(kids) < -2.0
    with pytest.raises(ValueError, match="per_class=1, draws=3; accepted: per_class >= 2"):
        metrics.stratified_real_kid("mnist", [0, 1], 1, model=mnist_model)


def test_mix_indices_redraw_a_set_at_another_mix():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    shares = [0.2, 0.3, 0.5]  # class 2 scarcest relative to its share: 20 / 0.5 = 40 images at most
    assert metrics.mix_capacity(labels, shares, [0, 1, 2]) == 40
    assert metrics.mix_capacity(labels, shares, [0, 1]) == 50  # renormalised over 0, 1: 30 / 0.6
    pick = metrics.mix_indices(labels, shares, [0, 1, 2], 40, torch.Generator().manual_seed(0))
    assert torch.bincount(labels[pick], minlength=3).tolist() == [8, 12, 20] and len(set(pick.tolist())) == 40
    with pytest.raises(ValueError, match="class 2 needs 25 images at n=50, only 20 are labelled 2; accepted: n up to"):
        metrics.mix_indices(labels, shares, [0, 1, 2], 50, torch.Generator())
    with pytest.raises(ValueError, match="no positive mass"):
        metrics.mix_indices(labels, [0.0, 0.0, 1.0], [0, 1], 5, torch.Generator())
