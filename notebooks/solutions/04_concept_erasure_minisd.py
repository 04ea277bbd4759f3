"""Solutions to lesson 04's exercises; ``python 04_concept_erasure_minisd.py`` checks each against fdunlearn."""

from __future__ import annotations

import torch

from fdunlearn.datasets import captions
from fdunlearn.theory import losses


def hellinger_erasure_loss(eps_new: torch.Tensor, eps_anchor: torch.Tensor) -> torch.Tensor:
    """Exercise 1: the reference-scaled closed-form Hellinger loss per sample, -exp(-m / 8) with m the mean over
    latent elements of (eps_new - eps_anchor)^2 (1 - BC of two equal-variance Gaussians, up to the constant 1;
    docs/derivations.md). The anchor prediction is a target: no gradient flows into it."""
    m = (eps_new - eps_anchor.detach()).pow(2).flatten(1).mean(1)
    return -torch.exp(-m / 8.0)


def erasure_pairs(target_digit: int, anchor_digit: int) -> tuple[list[str], list[str]]:
    """Exercise 2: aligned (target, anchor) prompts: every training template, plain and thick, filled with the
    target digit and with the anchor digit (``captions.fill``), in the same order."""
    rows = [(t, thick) for t in captions.templates("train") for thick in (False, True)]
    return ([captions.fill(t, target_digit, thick) for t, thick in rows],
            [captions.fill(t, anchor_digit, thick) for t, thick in rows])


def adam_first_step(grad: torch.Tensor, lr: float, eps: float = 1e-8) -> torch.Tensor:
    """Exercise 3: the change Adam makes on its first step (bias-corrected m = g, v = g^2):
    -lr * g / (|g| + eps), i.e. -lr * sign(g) wherever |g| >> eps, whatever the loss's overall scale."""
    return -lr * grad / (grad.abs() + eps)


def fill_placeholders(words: torch.Tensor, slots: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """Exercise 4: the input embeddings (n, L, E) with every placeholder slot (``slots`` (n, L), k True per prompt)
    replaced by the k learned ``vectors`` (k, E), in order: how prompt-opt and textual inversion feed their soft tokens
    to a frozen text encoder (``attack.encode_soft``). Out of place and differentiable in ``vectors``."""
    return words.masked_scatter(slots[..., None], vectors.repeat(len(words), 1))


def main() -> None:
    g = torch.Generator().manual_seed(0)
    eps_new, eps_anchor = torch.randn(4, 4, 8, 8, generator=g), torch.randn(4, 4, 8, 8, generator=g)
    torch.testing.assert_close(hellinger_erasure_loss(eps_new, eps_anchor),
                               losses.closed_form_loss(eps_new, eps_anchor, "hellinger"))
    assert erasure_pairs(3, 8) == tuple(captions.pairs("three", "eight"))
    for scale in (1.0, 1 / 8, 100.0):  # Hellinger's gradient is at most 1/8 of MSE's: the step does not care
        w = torch.nn.Parameter(torch.zeros(5))
        opt = torch.optim.Adam([w], lr=1e-3)
        grad = scale * torch.tensor([0.3, -2.0, 1e-3, 5.0, -0.01])
        w.grad = grad.clone()
        opt.step()
        torch.testing.assert_close(w.detach(), adam_first_step(grad, 1e-3))
    words, slots = torch.randn(2, 4, 3, generator=g), torch.tensor([[False, True, False, False]] * 2)
    vec = torch.randn(1, 3, generator=g)
    assert torch.equal(fill_placeholders(words, slots, vec)[:, 1], vec.expand(2, 3))
    print("lesson 04 solutions: all checks passed")


if __name__ == "__main__":
    main()
