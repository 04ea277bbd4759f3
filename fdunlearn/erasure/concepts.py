"""What one erasure is asked to do, checked before any work: the concepts (aligned target and anchor prompts), the
settings (``EraseConfig``, the reference's defaults; the ``erase`` command's defaults on MiniSD), and the limits.
``fdunlearn.erasure.erase`` runs it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fdunlearn import validate
from fdunlearn.erasure import anchors as erase_anchors
from fdunlearn.erasure import step as erase_step
from fdunlearn.erasure import weights as erase_params
from fdunlearn.theory import divergences, losses

PRECISIONS = ("auto", "no", "fp16", "bf16")


def closed_form_names() -> list[str]:
    """Divergences with a closed form: "mse" (Concept Ablation) and every registry member that has one."""
    return ["mse", *(n for n in divergences.names() if n != "jensen_shannon")]


@dataclass(frozen=True)
class Concept:
    """Aligned prompt lists: target prompt i is erased towards anchor prompt i."""

    targets: tuple[str, ...]
    anchors: tuple[str, ...]
    name: str = ""


# The `erase` command's default length on MiniSD: at the reference's 500 steps MSE leaves 8.3% sevens (seed 0), at
# 1000 it reaches the generic anchor's own share + 3 points on 3 seeds (lesson 04; data/results/erasure_minisd.json).
MINISD_STEPS = 1000
MINISD_LR_MULT = 1.0  # the default lr on MiniSD, as a multiple of the reference's (EraseConfig.lr)
MINISD_ANCHOR_NEGATIVE = False  # and whether its anchor images are drawn away from the target (erase_defaults)
# Its objective (erase_defaults, 5 seeds): the regression target guided away from the seven by G = 0.5, and a term
# keeping the other digits' prompts at weight 1: held-out sevens 0%, retained accuracy the base's, ~2 minutes
MINISD_AWAY = 0.5
MINISD_PRESERVE = 1.0
MAX_PRESERVE = 1000.0


@dataclass(frozen=True)
class EraseConfig:
    """Settings of one erasure (defaults: the reference's, except where noted)."""

    divergence: str = "mse"  # closed form: closed_form_names(); variational: any registry name
    alpha: float | None = None  # the alpha-divergence's parameter (required for divergence="alpha")
    variational: bool = False  # f-GAN bound with a critic instead of the closed form
    scaling: str = "reference"  # closed form's argument: m/s^2 (reference), C m/s^2 (reference-code), delta (exact)
    temperature: float = 1.0  # s
    optimizer: str = "adam"  # adam (AdamW, the reference's) | sgd (plain SGD, no momentum: the loss's scale matters)
    params: str = "kv"  # trainable group: kv | cross-attn | unet
    steps: int = 500
    lr: float = 7e-5  # per sample: the optimiser uses lr * batch_size (the reference scales it so)
    batch_size: int = 4
    seed: int = 0
    n_anchor_images: int = 128  # per concept (the reference: 1000)
    anchor_steps: int = 25
    guidance_scale: float = 7.5  # classifier-free guidance for the anchor images only
    anchor_sampler: str = "dpm-solver"  # or "pipeline" (the pipeline's own scheduler)
    # draw the anchor images with the concept's first target prompt as negative prompt: guidance steers them away from
    # the target, so the anchor no longer contains it ("a handwritten digit" is a seven ~5% of the time on MiniSD)
    anchor_negative: bool = False
    # guide the regression target away from the target prompt by this much (erase_step: ESD-style; 0 = Concept Ablation)
    away: float = 0.0
    # prompts whose predictions stay the original model's (a retain set), and the weight of that preservation term
    # (erase_step; closed forms only; both empty/0 = off, the reference's)
    keep: tuple[str, ...] = ()
    preserve: float = 0.0
    anchor_batch_size: int = 16
    border: int = 0  # latent pixels ignored on each side (the reference: 1)
    max_grad_norm: float | None = None  # None: no clipping (clipping would erase the divergences' scalings)
    weight_decay: float = 0.0
    critic_warmup: int = 30  # variational: critic-only steps before the first generator step
    critic_steps: int = 1  # variational: critic steps per generator step
    critic_lr: float = 2e-4
    critic_width: int = 64
    critic: str = "fixed"  # variational: fixed | leaky (the reference code's critic-gradient leak, reproduced)
    precision: str = "auto"  # auto (the UNet's dtype) | no | fp16 | bf16 (autocast)
    gradient_checkpointing: bool = False
    checkpoint_every: int = 100

    def label(self) -> str:
        name = f"alpha={self.alpha:g}" if self.divergence == "alpha" else self.divergence
        return f"variational {name}" if self.variational else name

    def loss_params(self) -> dict[str, float]:
        return {"alpha": float(self.alpha)} if self.divergence == "alpha" else {}


# ----------------------------------------------------------------------------- validation
MAX_STEPS = 1_000_000
MAX_LR = 1.0  # per sample; the default is 7e-5
MAX_SGD_LR = 1000.0  # per sample, plain SGD: its step is lr times the gradient, so its useful lr is far larger
MAX_GUIDANCE = 50.0
LIMITS = {"steps": MAX_STEPS, "batch_size": 4096, "n_anchor_images": 100_000, "anchor_steps": 1000,
          "anchor_batch_size": 4096, "critic_steps": 1000, "critic_width": 65_536, "checkpoint_every": MAX_STEPS}


def check(cfg: EraseConfig) -> None:
    """Raise a ValueError naming the bad value and the accepted ones."""
    names = divergences.names() if cfg.variational else closed_form_names()
    if cfg.divergence not in names:
        hint = " ('mse' has no f-GAN form: use 'kl')" if cfg.divergence == "mse" else ""
        hint += " (Jensen-Shannon has no closed form: use variational=True)" * (cfg.divergence == "jensen_shannon")
        form = "variational" if cfg.variational else "closed-form"
        raise ValueError(f"unknown {form} divergence {cfg.divergence!r}{hint}; accepted: {', '.join(names)}")
    if cfg.divergence == "alpha":
        if cfg.alpha is None:
            raise ValueError("divergence 'alpha' needs alpha=A (--alpha A); accepted: any finite real except 0, 1")
        divergences.get("alpha", alpha=cfg.alpha)  # validates the value
    elif cfg.alpha is not None:
        raise ValueError(f"alpha={cfg.alpha!r} given for divergence {cfg.divergence!r}; only 'alpha' takes it")
    choices = {"params": erase_params.GROUPS, "scaling": losses.SCALINGS, "precision": PRECISIONS,
               "anchor_sampler": erase_anchors.SAMPLERS, "optimizer": erase_step.OPTIMIZERS,
               "critic": erase_step.CRITICS}
    for key, accepted in choices.items():
        if getattr(cfg, key) not in accepted:
            raise ValueError(f"unknown {key} {getattr(cfg, key)!r}; accepted: {', '.join(accepted)}")
    if cfg.scaling == "reference-code" and not cfg.variational:
        losses.check_reference_code(cfg.divergence)
    if cfg.critic != "fixed" and not cfg.variational:
        raise ValueError(f"critic={cfg.critic!r} applies to the variational form only (variational=True, "
                         "--variational); accepted for a closed form: fixed")
    for key, hi in LIMITS.items():
        validate.check_integer(key, getattr(cfg, key), 1, hi)
    if not isinstance(cfg.anchor_negative, bool):
        raise ValueError(f"anchor_negative={cfg.anchor_negative!r}; accepted: True or False")
    for key in ("critic_warmup", "border"):
        validate.check_integer(key, getattr(cfg, key), 0, MAX_STEPS if key == "critic_warmup" else 64)
    validate.check_integer("seed", cfg.seed, 0, validate.SEED_MAX)
    validate.check_real("lr", cfg.lr, 0.0, MAX_SGD_LR if cfg.optimizer == "sgd" else MAX_LR, lo_open=True)
    validate.check_real("critic_lr", cfg.critic_lr, 0.0, MAX_LR, lo_open=True)
    validate.check_real("temperature", cfg.temperature, 0.0, None, lo_open=True)
    validate.check_real("guidance_scale", cfg.guidance_scale, 0.0, MAX_GUIDANCE)
    validate.check_real("away", cfg.away, 0.0, MAX_GUIDANCE)
    validate.check_real("preserve", cfg.preserve, 0.0, MAX_PRESERVE)
    if not isinstance(cfg.keep, tuple) or not all(isinstance(p, str) and p.strip() for p in cfg.keep):
        raise ValueError(f"keep={cfg.keep!r}; accepted: a tuple of non-empty prompts")
    if bool(cfg.keep) != bool(cfg.preserve):
        raise ValueError(f"keep has {len(cfg.keep)} prompts and preserve={cfg.preserve!r}; accepted: both set "
                         "(prompts to keep and a weight > 0) or neither")
    if cfg.preserve and cfg.variational:
        raise ValueError(f"preserve={cfg.preserve!r} applies to the closed forms only; accepted with "
                         "variational=True: 0")
    validate.check_real("weight_decay", cfg.weight_decay, 0.0, None)
    if cfg.max_grad_norm is not None:
        validate.check_real("max_grad_norm", cfg.max_grad_norm, 0.0, None, lo_open=True)


def _prompt_list(value: Sequence[str], what: str, k: int) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"concept {k}: {what} prompts {value!r} are not a list; accepted: a list of prompts, "
                         f"e.g. [{value!r}]")
    if not value:
        raise ValueError(f"concept {k}: empty {what} list; accepted: one or more non-empty prompts")
    for p in value:
        if what == "anchor" and p == "":
            continue  # the empty prompt: the unconditional prediction, a valid (far) anchor
        if not isinstance(p, str) or not p.strip():
            accepted = "non-empty strings" + (", or '' (the empty prompt)" if what == "anchor" else "")
            raise ValueError(f"concept {k}: {what} prompt {p!r} is empty or not text; accepted: {accepted}")
    return tuple(value)


def as_concepts(concepts: Concept | tuple | Sequence[Concept | tuple]) -> list[Concept]:
    """Checked ``Concept``s from one concept (a ``Concept`` or a tuple (targets, anchors) of prompt lists) or a
    list of them. Prompt lists are lists, never bare strings: ``(["a cat"], ["a dog"])``."""
    single = isinstance(concepts, tuple) and len(concepts) == 2 and not isinstance(concepts[0], Concept | tuple)
    if isinstance(concepts, Concept) or single:
        concepts = [concepts]
    out = []
    for k, c in enumerate(concepts):
        if not isinstance(c, Concept):
            if not (isinstance(c, tuple | list) and len(c) == 2):
                raise ValueError(f"concept {k} is {c!r}; accepted: a Concept or a (targets, anchors) pair of lists")
            c = Concept(c[0], c[1])
        targets, anchors = _prompt_list(c.targets, "target", k), _prompt_list(c.anchors, "anchor", k)
        if len(targets) != len(anchors):
            raise ValueError(f"concept {k}: {len(targets)} target prompts but {len(anchors)} anchor prompts; "
                             "accepted: aligned lists of the same length (target i is erased towards anchor i)")
        out.append(Concept(targets, anchors, c.name or targets[0]))
    if not out:
        raise ValueError("no concepts given; accepted: one or more (targets, anchors) pairs")
    return out
