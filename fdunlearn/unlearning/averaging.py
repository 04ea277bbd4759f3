"""An exponential moving average (EMA) of the weights over an unlearning run, saved instead of the last iterate.

Adam divides each gradient by its running scale, so once a regression sits near its floor every weight still
moves by about ``lr`` per step, in the direction of that minibatch's noise: the last iterate jitters around
where the loss wants it. On mnist-ddpm that jitter alone moves the class mix of the samples (lesson 03's
placebo, section 7.13). The average of the recent iterates, theta_ema <- decay * theta_ema + (1 - decay) * theta,
keeps their common drift (the unlearning) and averages the jitter out; it is the same device DDPM training uses
(Ho et al. 2020 sample from an EMA of the weights, decay 0.9999 over ~10^5 steps). Over a 200-step run the window
1 / (1 - decay) must be short: decay 0.97 averages the last ~30 steps.
"""

from __future__ import annotations

import math

import torch


def check_decay(decay: object) -> None:
    """Raise a ValueError naming ``decay`` unless 0 <= decay < 1 (0: no average, the last iterate is saved)."""
    if not (isinstance(decay, int | float) and not isinstance(decay, bool) and math.isfinite(decay)
            and 0.0 <= decay < 1.0):
        raise ValueError(f"ema={decay!r}; accepted: a number 0 <= ema < 1 (0: save the last iterate; 0.97: "
                         "average over the last ~30 steps)")


class WeightAverage:
    """The EMA of a module's floating-point parameters and buffers, started at their current values."""

    def __init__(self, net: torch.nn.Module, decay: float) -> None:
        check_decay(decay)
        self.decay = decay
        self.state = {k: v.detach().clone() for k, v in net.state_dict().items() if v.is_floating_point()}

    @torch.no_grad()
    def update(self, net: torch.nn.Module) -> None:
        """theta_ema <- decay * theta_ema + (1 - decay) * theta, after an optimiser step."""
        current = net.state_dict()
        for k, avg in self.state.items():
            avg.lerp_(current[k].detach(), 1.0 - self.decay)

    @torch.no_grad()
    def copy_to(self, net: torch.nn.Module) -> None:
        """Load the averaged values into ``net`` (its other entries, e.g. integer buffers, stay as they are)."""
        net.load_state_dict(self.state, strict=False)
