"""Small CNN classifiers that score generated images; their penultimate layer feeds FID/KID."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from fdunlearn import config
from fdunlearn import files as io
from fdunlearn.datasets import images as data

WEIGHTS = "model.safetensors"


@dataclass(frozen=True)
class ClassifierRecipe:
    """Architecture and training settings of a dataset's classifier."""

    name: str
    dataset: str
    widths: tuple[int, int, int] = (16, 32, 64)
    feature_dim: int = 128
    epochs: int = 25
    batch_size: int = 128
    lr: float = 2e-3
    dropout: float = 0.3


RECIPES = {
    "mnist-classifier": ClassifierRecipe("mnist-classifier", "mnist"),
    "cifar10-classifier": ClassifierRecipe("cifar10-classifier", "cifar10", widths=(32, 64, 128),
                                           feature_dim=256, epochs=30),
}
FAST_OVERRIDES = dict(widths=(8, 8, 16), feature_dim=16, epochs=1, batch_size=256)


def get_recipe(name: str) -> ClassifierRecipe:
    """The named classifier recipe, shrunk in fast mode."""
    if name not in RECIPES:
        raise ValueError(f"unknown classifier recipe {name!r}; accepted: {', '.join(RECIPES)}")
    return config.pick(RECIPES[name], replace(RECIPES[name], **FAST_OVERRIDES))


class SmallCNN(nn.Module):
    """Three conv stages (two 3x3 convs + batch norm each, then 2x2 pooling), a feature layer, logits."""

    def __init__(self, in_channels: int, widths: tuple[int, int, int], feature_dim: int,
                 dropout: float, n_classes: int = 10) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for w in widths:
            for _ in range(2):
                layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU()]
                c = w
            layers.append(nn.MaxPool2d(2))
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                                  nn.Linear(c * 4, feature_dim), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(feature_dim, n_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (used for FID and KID)."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def build(recipe: ClassifierRecipe) -> SmallCNN:
    channels = 1 if recipe.dataset == "mnist" else 3
    return SmallCNN(channels, recipe.widths, recipe.feature_dim, recipe.dropout)


def augment(x: torch.Tensor, dataset: str, g: torch.Generator) -> torch.Tensor:
    """Random shifts of up to 2 pixels (and horizontal flips for CIFAR-10)."""
    n = x.shape[0]
    padded = F.pad(x, (2, 2, 2, 2), value=-1.0 if dataset == "mnist" else 0.0)
    dx, dy = torch.randint(0, 5, (2, n), generator=g)
    out = torch.stack([padded[i, :, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32] for i in range(n)])
    if dataset == "cifar10":
        flip = torch.rand(n, generator=g) < 0.5
        out[flip] = out[flip].flip(-1)
    return out


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """Class probabilities and penultimate features for model-space images."""
    model.eval()
    dev = next(model.parameters()).device
    probs, feats = [], []
    for chunk in images.split(batch):
        f = model.features(chunk.to(dev))
        probs.append(model.head(f).softmax(-1).cpu())
        feats.append(f.cpu())
    return torch.cat(probs), torch.cat(feats)


def accuracy(model: nn.Module, split: data.ImageData) -> float:
    """Share of ``split`` classified correctly."""
    probs, _ = predict(model, split.images)
    return (probs.argmax(-1) == split.labels).float().mean().item()


def _is_classifier_folder(folder: Path) -> bool:
    try:
        return io.read_json(folder / "record.json").get("kind") == "classifier"
    except (OSError, ValueError, AttributeError):
        return False


def train(recipe: ClassifierRecipe, out: str | Path, seed: int = 0, progress: bool = True) -> Path:
    """Train on the fixed train split, report held-out accuracy, write a model folder to ``out``."""
    from fdunlearn import validate

    out = validate.output_folder(out, previous=_is_classifier_folder, what="a classifier folder (it is replaced)")
    device = config.device()
    g = config.seed_everything(seed)
    tr, held = data.load(recipe.dataset, "train"), data.load(recipe.dataset, "heldout")
    model = build(recipe).to(device)
    steps_per_epoch = max(1, len(tr) // recipe.batch_size)
    total = recipe.epochs * steps_per_epoch
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, total_steps=total)
    t0 = time.time()
    bar = tqdm(total=total, desc=recipe.name, disable=not progress)
    for _ in range(recipe.epochs):
        model.train()
        perm = torch.randperm(len(tr), generator=g)
        for b in range(steps_per_epoch):
            idx = perm[b * recipe.batch_size:(b + 1) * recipe.batch_size]
            x = augment(tr.images[idx], recipe.dataset, g).to(device)
            loss = F.cross_entropy(model(x), tr.labels[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    acc = accuracy(model, held)
    print(f"[fdunlearn.classifier] {recipe.name}: held-out accuracy {acc:.4f} on {len(held)} images")
    with io.atomic_dir(out) as tmp:
        io.save_tensors(model.state_dict(), tmp / WEIGHTS)
        io.write_json(io.record(kind="classifier", recipe=asdict(recipe), seed=seed,
                                data_source=tr.source, heldout_accuracy=round(acc, 4),
                                heldout_size=len(held), train_seconds=round(time.time() - t0, 1),
                                sha256=io.sha256(tmp / WEIGHTS)), tmp / "record.json")
    return out


def load(name_or_dir: str | Path) -> SmallCNN:
    """Load a classifier model folder (a shipped name or a directory), verifying its SHA-256."""
    from fdunlearn.models import registry as models

    folder = models.resolve(name_or_dir, kind="classifier")
    rec = models.read_record(folder)
    if rec.get("kind") != "classifier":
        raise ValueError(f"model {str(name_or_dir)!r} is a {rec.get('kind')!r} folder, not a classifier; accepted: "
                         "mnist-classifier, cifar10-classifier or a folder written by `train --recipe "
                         "mnist-classifier`")
    models.require(folder, WEIGHTS)
    io.verify_sha256(folder / WEIGHTS, models.expected_sha256(folder, rec))
    try:
        recipe = ClassifierRecipe(**{**rec["recipe"], "widths": tuple(rec["recipe"]["widths"])})
        model = build(recipe)
        model.load_state_dict(io.load_tensors(folder / WEIGHTS))
    except (KeyError, TypeError, RuntimeError) as err:
        raise ValueError(f"{folder / 'record.json'}: its 'recipe' does not describe the weights in "
                         f"{folder / WEIGHTS} ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); "
                         "rerun the command that wrote the folder") from None
    return model.to(config.device()).eval()
