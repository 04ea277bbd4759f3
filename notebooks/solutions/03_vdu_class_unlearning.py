"""Solutions to lesson 03's exercises; ``python 03_vdu_class_unlearning.py`` checks each against fdunlearn."""

from __future__ import annotations

import torch

from fdunlearn.studies import vdu_study
from fdunlearn.unlearning import unlearn


def stability_term(model: torch.nn.Module, mu: dict[str, torch.Tensor], var: dict[str, torch.Tensor]) -> torch.Tensor:
    """Exercise 1: VDU's stability sum, normalised: mean over all weights of (theta - mu*)^2 / (2 sigma*^2)."""
    terms = [((p - mu[n]).pow(2) / (2 * var[n])).flatten() for n, p in model.named_parameters()]
    return torch.cat(terms).mean()


def pul(base_share: float, share: float) -> float | None:
    """Exercise 2: percentage of unlearning, 100 (s_base - s) / s_base; None when s_base = 0."""
    return None if base_share == 0 else 100.0 * (base_share - share) / base_share


def saliency_mask(grads: dict[str, torch.Tensor], fraction: float) -> dict[str, torch.Tensor]:
    """Exercise 3: keep the ``fraction`` of weights with the largest |grad| over all tensors (SalUn-style)."""
    flat = torch.cat([g.abs().flatten() for g in grads.values()])
    threshold = torch.quantile(flat, 1 - fraction)
    return {n: (g.abs() >= threshold).float() for n, g in grads.items()}


def forget_like_mask(replay: torch.Tensor, x_forget: torch.Tensor, k: int, ratio: float) -> torch.Tensor:
    """Exercise 4: flag replay samples whose k nearest forget images are at most ``ratio`` x as far as their k
    nearest other replay samples (pixel distances, a sample is not its own neighbour)."""
    to_forget = torch.cdist(replay.flatten(1), x_forget.flatten(1)).topk(k, dim=1, largest=False).values.mean(1)
    d = torch.cdist(replay.flatten(1), replay.flatten(1))
    d.fill_diagonal_(float("inf"))
    to_replay = d.topk(k, dim=1, largest=False).values.mean(1)
    return to_forget <= ratio * to_replay


def main() -> None:
    torch.manual_seed(0)
    net = torch.nn.Linear(4, 3)
    mu = {n: p.detach() + 0.1 * torch.randn_like(p) for n, p in net.named_parameters()}
    var = {n: torch.rand_like(p) + 0.5 for n, p in net.named_parameters()}
    torch.testing.assert_close(stability_term(net, mu, var), unlearn.stability(net, mu, var))
    for base, share in [(0.1, 0.01), (0.1, 0.2), (0.0, 0.0), (0.25, 0.0)]:
        expected = vdu_study.pul(base, share)
        assert pul(base, share) == expected or abs(pul(base, share) - expected) < 1e-9
    grads = {"a": torch.tensor([0.1, -3.0, 0.2]), "b": torch.tensor([[2.0, -0.05], [0.3, 1.0]])}
    masks = saliency_mask(grads, 3 / 7)
    assert masks["a"].tolist() == [0.0, 1.0, 0.0] and masks["b"].tolist() == [[1.0, 0.0], [0.0, 1.0]]
    from fdunlearn.lessons import exercises

    for fn in (stability_term, pul, saliency_mask, forget_like_mask):
        assert exercises.grade(fn)
    print("all lesson 03 solutions check out")


if __name__ == "__main__":
    main()
