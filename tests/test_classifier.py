import pytest
import torch

from fdunlearn.datasets import images as data
from fdunlearn.models import classifier


def test_fast_training_writes_a_loadable_verified_folder(tmp_path):
    out = classifier.train(classifier.get_recipe("mnist-classifier"), tmp_path / "clf", progress=False)
    model = classifier.load(out)
    probs, feats = classifier.predict(model, data.load("mnist", "heldout").images[:10])
    assert probs.shape == (10, 10) and torch.allclose(probs.sum(-1), torch.ones(10))
    assert feats.shape == (10, classifier.get_recipe("mnist-classifier").feature_dim)


def test_shipped_mnist_classifier_reaches_97_percent():
    model = classifier.load("mnist-classifier")
    assert classifier.accuracy(model, data.load("mnist", "heldout")) >= 0.97


def test_augment_keeps_shape_and_background():
    x = data.load("mnist", "heldout").images[:8]
    y = classifier.augment(x, "mnist", torch.Generator().manual_seed(0))
    assert y.shape == x.shape and y[:, :, 0, :].eq(-1).all()


def test_unknown_classifier_recipe():
    with pytest.raises(ValueError, match=r"'mnist-vit'.*mnist-classifier, cifar10-classifier"):
        classifier.get_recipe("mnist-vit")
