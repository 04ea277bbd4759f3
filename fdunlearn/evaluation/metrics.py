"""The evaluation kit every lesson reports: class shares, entropy, confidence, FID and KID.

FID and KID are computed with torchmetrics on the project classifier's penultimate features,
not on Inception-v3: Inception weights cannot be downloaded on the course's offline machines.
The numbers are therefore comparable within this course, not with published FIDs.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence

import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from fdunlearn.datasets import images as data
from fdunlearn.models import classifier as clf

CONFIDENT = 0.9  # a sample is "confidently recognised" when its top class probability >= this
KID_SUBSET = 100  # KID subset size; capped by the smaller side so a few hundred images work
KID_SUBSETS = 50
KID_SEED = 0
MIN_IMAGES = 2


class _Features(nn.Module):
    """Wraps a classifier so torchmetrics sees an (N, d) feature extractor on model-space images."""

    def __init__(self, model: clf.SmallCNN) -> None:
        super().__init__()
        self.model = model
        self.num_features = model.head[-1].in_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.features(x.to(next(self.model.parameters()).device)).double().cpu()


def check_classes(classes: Sequence[int] | None) -> list[int] | None:
    """Validate a class subset: integers in 0..9, no repeats."""
    if classes is None:
        return None
    bad = [c for c in classes if not (isinstance(c, int) and 0 <= c <= 9)]
    if bad or len(set(classes)) != len(classes) or not classes:
        raise ValueError(f"bad class list {list(classes)!r}; accepted: distinct integers in 0..9")
    return sorted(classes)


def feature_distances(real: torch.Tensor, fake: torch.Tensor, model: clf.SmallCNN) -> dict[str, float]:
    """FID and KID between two image sets in model space, on the classifier's features."""
    feats = _Features(model)
    n = min(len(real), len(fake))
    out: dict[str, float] = {"n_real": len(real), "n_fake": len(fake)}
    if n < 2:
        return out | {"fid": float("nan"), "kid_mean": float("nan"), "kid_std": float("nan"),
                      "kid_subset_size": 0}
    fid = FrechetInceptionDistance(feature=feats, normalize=True)
    with warnings.catch_warnings():  # its warning about buffering all features: a few hundred images here
        warnings.filterwarnings("ignore", message="Metric `Kernel Inception Distance` will save all")
        kid = KernelInceptionDistance(feature=feats, normalize=True, subsets=KID_SUBSETS,
                                      subset_size=min(KID_SUBSET, n))
    for metric in (fid, kid):
        for chunk in real.split(500):
            metric.update(chunk, real=True)
        for chunk in fake.split(500):
            metric.update(chunk, real=False)
    with torch.random.fork_rng():
        torch.manual_seed(KID_SEED)
        kid_mean, kid_std = kid.compute()
    return out | {"fid": float(fid.compute()), "kid_mean": float(kid_mean), "kid_std": float(kid_std),
                  "kid_subset_size": min(KID_SUBSET, n)}


def evaluate(dataset: str, images: torch.Tensor, classes: Sequence[int] | None = None,
             model: clf.SmallCNN | None = None, real: data.ImageData | None = None) -> dict:
    """Score generated ``images`` (model space, NCHW) with the dataset's classifier.

    Returns class counts and shares, mean predictive entropy (nats), the share of samples
    recognised with confidence >= 0.9, and FID/KID against the held-out real images. With
    ``classes``, FID/KID compare only generated images predicted in those classes with real
    images labelled in those classes (shares still cover all classes).
    """
    data.check_name(dataset)
    classes = check_classes(classes)
    if len(images) < MIN_IMAGES:
        raise ValueError(f"{len(images)} image(s) to evaluate; accepted: at least {MIN_IMAGES} (FID and KID compare "
                         "two distributions)")
    model = model or clf.load(f"{dataset}-classifier")
    real = real or data.load(dataset, "heldout", verbose=False)
    probs, _ = clf.predict(model, images)
    pred = probs.argmax(-1)
    counts = torch.bincount(pred, minlength=10)
    entropy = -(probs * probs.clamp_min(1e-12).log()).sum(-1)
    keep_fake = torch.ones_like(pred, dtype=torch.bool)
    keep_real = torch.ones_like(real.labels, dtype=torch.bool)
    if classes is not None:
        keep_fake = torch.isin(pred, torch.tensor(classes))
        keep_real = torch.isin(real.labels, torch.tensor(classes))
    report = {
        "dataset": dataset, "n": len(images), "classes": classes, "real_source": real.source,
        "class_counts": counts.tolist(), "class_share": (counts / len(images)).tolist(),
        "entropy": entropy.mean().item(),
        "confident_share": (probs.max(-1).values >= CONFIDENT).float().mean().item(),
    }
    report |= feature_distances(real.images[keep_real], images[keep_fake], model)
    if report["n_fake"] < MIN_IMAGES:
        report["note"] = (f"FID and KID undefined: only {report['n_fake']} generated image(s) are predicted in classes "
                          f"{','.join(map(str, classes or []))}; they need at least {MIN_IMAGES}")
    return report


def mix_indices(labels: torch.Tensor, shares: Sequence[float], classes: Sequence[int], n: int,
                generator: torch.Generator) -> torch.Tensor:
    """Indices of ``labels`` drawn without replacement so that ``classes`` appear in the proportions ``shares[c]``
    (renormalised over ``classes``), ``n`` in all up to rounding: a fixed image set re-mixed to another model's mix."""
    classes = check_classes(list(classes))
    p = torch.tensor([float(shares[c]) for c in classes], dtype=torch.float64)
    if not (p >= 0).all() or p.sum() <= 0:
        raise ValueError(f"shares {list(shares)!r} give classes {classes} no positive mass; accepted: shares >= 0 with "
                         "a positive sum over the classes")
    counts = (p / p.sum() * n).round().long()
    picks = []
    for c, k in zip(classes, counts.tolist(), strict=True):
        idx = torch.nonzero(labels == c).flatten()
        if k > len(idx):
            raise ValueError(f"class {c} needs {k} images at n={n}, only {len(idx)} are labelled {c}; accepted: "
                             f"n up to {mix_capacity(labels, shares, classes)}")
        picks.append(idx[torch.randperm(len(idx), generator=generator)[:k]])
    return torch.cat(picks)


def mix_capacity(labels: torch.Tensor, shares: Sequence[float], classes: Sequence[int]) -> int:
    """The largest ``n`` that ``mix_indices`` can draw from ``labels`` at ``shares`` (renormalised over ``classes``)."""
    total = sum(float(shares[c]) for c in classes)
    counts = torch.bincount(labels, minlength=10)
    return int(min(math.floor(counts[c].item() * total / float(shares[c]) + 1e-9) if shares[c] > 0 else 10**9
                   for c in classes))


def real_reference(dataset: str, n: int, classes: Sequence[int] | None = None, seed: int = 0) -> dict:
    """The floor for FID/KID: ``n`` real training images scored like generated ones."""
    train = data.load(dataset, "train", verbose=False)
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(train), generator=g)[:n]
    return evaluate(dataset, train.images[idx], classes)


def stratified_real_kid(dataset: str, classes: Sequence[int], per_class: int, draws: int = 3, seed: int = 0,
                        model: clf.SmallCNN | None = None) -> list[float]:
    """KID of *real* training images drawn ``per_class`` per class (as lesson 04 draws its retained images: the same
    count of every digit) against the held-out images of those classes, once per draw. Equal class counts make
    two images of one set share a class less often than in a random draw, so the within-set term of the unbiased
    estimate falls and the KID sits below 0 for real data itself: the floor that a stratified sample's KID should be
    read against."""
    classes = check_classes(list(classes))
    if per_class < 2 or draws < 1:
        raise ValueError(f"per_class={per_class}, draws={draws}; accepted: per_class >= 2 and draws >= 1")
    model = model or clf.load(f"{dataset}-classifier")
    train, real = data.load(dataset, "train", verbose=False), data.load(dataset, "heldout", verbose=False)
    reference = real.images[torch.isin(real.labels, torch.tensor(classes))]
    out = []
    for d in range(draws):
        g = torch.Generator().manual_seed(seed + d)
        picks = []
        for c in classes:
            idx = torch.nonzero(train.labels == c).flatten()
            picks.append(train.images[idx[torch.randperm(len(idx), generator=g)[:per_class]]])
        out.append(feature_distances(reference, torch.cat(picks), model)["kid_mean"])
    return out


def to_json(report: dict, **kwargs) -> str:
    """A report as strict JSON: NaN and infinity (FID/KID of fewer than 2 images in ``classes``) become null."""
    def clean(x):
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [clean(v) for v in x]
        return x

    return json.dumps(clean(report), allow_nan=False, **kwargs)


def format_report(report: dict, names: Sequence[str] | None = None) -> str:
    """A short human-readable table of a report."""
    names = names or data.CLASS_NAMES[report["dataset"]]
    shares = "  ".join(f"{n}:{s:5.1%}" for n, s in zip(names, report["class_share"], strict=True))
    distances = (f"FID={report['fid']:.2f}  KID={report['kid_mean']:.4f}±{report['kid_std']:.4f}"
                 if math.isfinite(report["fid"]) else "FID=n/a  KID=n/a")
    return (f"n={report['n']}  confident(>={CONFIDENT})={report['confident_share']:.1%}  "
            f"entropy={report['entropy']:.3f}  {distances}"
            f"{'  classes=' + ','.join(map(str, report['classes'])) if report['classes'] else ''}\n"
            f"shares  {shares}" + (f"\n{report['note']}" if report.get("note") else ""))
