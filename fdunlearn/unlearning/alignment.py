"""Why gradient ascent on D_f cannot single out one class: cosines between the simple loss's gradients (lesson 03).

Gradient ascent on the forget images is class-selective only where their gradient does not point where the other
classes' gradients point; ``gradient_alignment`` measures that per band of timesteps.
"""

from __future__ import annotations

import torch
from diffusers import DDPMScheduler, UNet2DModel

from fdunlearn.models import ddpm


def loss_gradient(unet: UNet2DModel, scheduler: DDPMScheduler, x0: torch.Tensor, seed: int,
                  t_range: tuple[int, int] = (0, ddpm.T_STEPS)) -> torch.Tensor:
    """The gradient of the simple loss on ``x0`` (t ~ U{t_range}), flattened over all parameters.

    Lesson 03 compares the forget images' gradient with other classes' (cosine): gradient ascent on D_f
    can only be class-selective where the two point in different directions.
    """
    lo, hi = t_range
    if not 0 <= lo < hi <= ddpm.T_STEPS:
        raise ValueError(f"t_range={t_range} out of range; accepted: 0 <= lo < hi <= {ddpm.T_STEPS}")
    g = torch.Generator().manual_seed(seed)
    t = torch.randint(lo, hi, (x0.shape[0],), generator=g)
    eps = torch.randn(x0.shape, generator=g)
    unet.zero_grad(set_to_none=True)
    with torch.enable_grad():
        params = [p for p in unet.parameters()]
        loss = (unet(scheduler.add_noise(x0, eps, t), t).sample - eps).pow(2).mean()
        grads = torch.autograd.grad(loss, params)
    return torch.cat([gr.flatten() for gr in grads])


T_BANDS = ((0, ddpm.T_STEPS), (0, 300), (300, 700), (700, ddpm.T_STEPS))


def gradient_alignment(unet: UNet2DModel, scheduler: DDPMScheduler, images: torch.Tensor, labels: torch.Tensor,
                       forget_class: int, batch: int, draws: int = 3,
                       bands: tuple[tuple[int, int], ...] = T_BANDS) -> list[dict]:
    """Cosines between simple-loss gradients, per draw and t band: two disjoint batches of ``forget_class``
    (``sevens``: how consistent the forget direction is) and one of them against a batch of the other classes
    (``others``: gradient ascent on D_f is class-selective only where this is not positive). Draw ``d`` picks
    images with seed ``d`` and noise with seeds ``10 d + 1..3``."""
    cos = torch.nn.functional.cosine_similarity
    forget, rest = images[labels == forget_class], images[labels != forget_class]
    if len(forget) < 2 * batch or len(rest) < batch:
        raise ValueError(f"batch={batch} needs {2 * batch} images of class {forget_class} (have {len(forget)}) "
                         f"and {batch} others (have {len(rest)})")
    out = []
    for d in range(draws):
        g = torch.Generator().manual_seed(d)
        f = forget[torch.randperm(len(forget), generator=g)[:2 * batch]]
        o = rest[torch.randperm(len(rest), generator=g)[:batch]]
        for band in bands:
            a = loss_gradient(unet, scheduler, f[:batch], seed=10 * d + 1, t_range=band)
            b = loss_gradient(unet, scheduler, f[batch:], seed=10 * d + 2, t_range=band)
            c = loss_gradient(unet, scheduler, o, seed=10 * d + 3, t_range=band)
            out.append({"draw": d, "band": band, "sevens": cos(a, b, dim=0).item(), "others": cos(a, c, dim=0).item()})
    return out
