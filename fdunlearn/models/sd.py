"""Stable Diffusion for lesson 05: load the model the paper erased from, or fall back to one that runs anywhere.

Novello et al. (2025) erase concepts from Stable Diffusion v1.4; this module loads it at a pinned revision
(``"sd14"``), Stable Diffusion 2.1 (``"sd21"``, 768 px, v-prediction; ``"sd21-base"``, 512 px, epsilon), any other
Hugging Face id, or any local ``save_pretrained`` folder, as a plain ``diffusers.StableDiffusionPipeline``: the
eraser (``fdunlearn.erasure.erase``) takes it as it takes MiniSD.

Offline by default (docs/conventions.md): the weights are read from the Hugging Face cache, and downloaded only when
the user opts in with ``FDUNLEARN_ONLINE=1`` (set before or after importing fdunlearn: it is read again before each
download). When they cannot be had, or when there is no CUDA GPU for a real Stable Diffusion, ``load`` raises
``Unavailable`` at once, with a message that says what is missing and what to do.
``load_with_fallback`` walks the lesson's chain instead: the requested model, then ``"minisd"`` (the course's trained
CPU model, shipped in ``data/checkpoints/``: without a GPU a student still sees a real erasure, of digits), then
``"tiny-sd"`` (``tiny_sd``: Stable Diffusion's classes, tiny and randomly initialised, built offline in seconds: for
tests of the code path, its images are noise), and reports why each earlier link was skipped.

Memory savers (for a 16 GB GPU): ``dtype="fp16"`` (frozen weights in half precision; ``erase`` keeps the trained
K/V in float32 and runs under autocast), ``attention="sdpa"`` (PyTorch's fused attention, diffusers' default) or
``"slicing"`` (attention computed in slices), VAE slicing for decoding; gradient checkpointing is an erasure
setting (``EraseConfig.gradient_checkpointing``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch

from fdunlearn import config

# Revisions: commit ids of the Hugging Face repositories, as found in the snapshot paths of public code using them.
MODELS = {
    "sd14": ("CompVis/stable-diffusion-v1-4", "133a221b8aa7292a167afc5127cb63fb5005638b"),
    "sd21": ("stabilityai/stable-diffusion-2-1", "5cae40e6a2745ae2b01ad92ae5043f95f23644d6"),
    "sd21-base": ("stabilityai/stable-diffusion-2-1-base", "5ede9e4bf3e3fd1cb0ef2f7a3fff13ee514fdf06"),
}
FALLBACKS = ("minisd", "tiny-sd")  # offline stand-ins, in the lesson's order: trained first, random last
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
ATTENTION = ("sdpa", "slicing", "classic")
# what a pipeline needs; the root .ckpt files, the safety checker and Flax/ONNX weights are skipped
_IGNORE = ["*.ckpt", "*.msgpack", "*.onnx", "*.onnx_data", "*.h5", "*.pb", "safety_checker/*", "*non_ema*",
           "*.fp16.*", "*.ema.*"]


class Unavailable(RuntimeError):
    """The requested model cannot be loaded here (no weights offline, no GPU); the message says what to do."""


@dataclass
class Loaded:
    """A pipeline and where it came from; ``skipped`` says why earlier links of the fallback chain were not used."""

    pipe: object
    name: str
    requested: str
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def is_fallback(self) -> bool:
        return self.name != self.requested

    @property
    def is_real(self) -> bool:
        """True for a Stable Diffusion with trained weights (not tiny-sd, not MiniSD)."""
        return self.name not in FALLBACKS

    def describe(self) -> str:
        lines = [f"{name}: skipped, {why}" for name, why in self.skipped.items()]
        what = "a fallback, not the requested model" if self.is_fallback else "the requested model"
        return "\n".join([*lines, f"using {self.name!r} ({what})"])


def accepted_names() -> str:
    return f"{', '.join([*MODELS, *FALLBACKS])}, a Hugging Face id (owner/name) or a save_pretrained folder"


def hub_folder(repo: str, revision: str | None, what: str, ignore: list[str] | None = None) -> Path:
    """The local folder of ``repo`` at ``revision``: from the Hugging Face cache, or downloaded when
    ``FDUNLEARN_ONLINE=1``. Raises ``Unavailable`` naming the repository, the revision and the way out."""
    from huggingface_hub import snapshot_download

    config.apply_offline_default()  # FDUNLEARN_ONLINE may have been set after the import
    online = config.is_online()
    try:
        return Path(snapshot_download(repo, revision=revision, local_files_only=not online,
                                      ignore_patterns=ignore))
    except Exception as err:  # hub errors differ by cause (offline, gated, missing); all mean "not here"
        at = f"{repo} at revision {revision}" if revision else repo
        if not online:
            raise Unavailable(
                f"{what} ({at}) is not in the Hugging Face cache and downloads are off; run with FDUNLEARN_ONLINE=1 "
                "to download it (first accept its licence on huggingface.co where it asks), or pass a local "
                "save_pretrained folder") from err
        raise Unavailable(f"{what} ({at}) could not be downloaded: {type(err).__name__}: {err}") from err


def weights_folder(name: str, revision: str | None = None) -> Path:
    """Where the weights of ``name`` are (``MODELS`` key, Hugging Face id, or folder); ValueError for a bad name."""
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise ValueError(f"{name!r} is a folder without model_index.json; accepted: {accepted_names()}")
        return path
    if name in MODELS:
        repo, pinned = MODELS[name]
        return hub_folder(repo, revision or pinned, f"Stable Diffusion {name!r}", _IGNORE)
    if name.count("/") == 1 and not name.startswith((".", "/", "~")):
        return hub_folder(name, revision, f"model {name!r}", _IGNORE)
    raise ValueError(f"unknown model {name!r}; accepted: {accepted_names()}")


def _dtype(dtype: str, device: torch.device) -> torch.dtype:
    if dtype == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; accepted: auto, {', '.join(DTYPES)}")
    if device.type == "cpu" and dtype == "fp16":
        raise ValueError("dtype 'fp16' needs a CUDA GPU; accepted on the CPU: fp32, bf16")
    return DTYPES[dtype]


SAMPLERS = ("dpm-solver", "pipeline")


@contextmanager
def sampling(pipe, sampler: str) -> Iterator[None]:
    """Within the block, ``pipe`` samples with ``sampler`` ("dpm-solver": a DPM-Solver++ scheduler made from the
    pipeline's own scheduler config; "pipeline": the scheduler it was loaded with) and shows no progress bar of its
    own; afterwards its scheduler and progress-bar settings are restored, even after an error."""
    from diffusers import DPMSolverMultistepScheduler

    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; accepted: {', '.join(SAMPLERS)}")
    original, bars = pipe.scheduler, dict(getattr(pipe, "_progress_bar_config", {}))
    if sampler == "dpm-solver":
        pipe.scheduler = DPMSolverMultistepScheduler.from_config(original.config)
    pipe.set_progress_bar_config(disable=True)
    try:
        yield
    finally:
        pipe.scheduler = original
        pipe._progress_bar_config = bars


def configure(pipe, attention: str = "sdpa"):
    """Attention implementation and VAE slicing (decoding a batch one image at a time); returns ``pipe``."""
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    if attention not in ATTENTION:
        raise ValueError(f"unknown attention {attention!r}; accepted: {', '.join(ATTENTION)}")
    if attention == "slicing":
        pipe.enable_attention_slicing()
    else:
        pipe.unet.set_attn_processor(AttnProcessor2_0() if attention == "sdpa" else AttnProcessor())
    if hasattr(pipe.vae, "enable_slicing"):
        pipe.vae.enable_slicing()
    return pipe


def load(name: str = "sd14", *, revision: str | None = None, dtype: str = "auto", attention: str = "sdpa",
         device: str | torch.device | None = None, allow_cpu: bool = False, seed: int = 0):
    """A ``StableDiffusionPipeline`` (no safety checker) on ``device`` (default: CUDA when present).

    ``name``: ``sd14`` | ``sd21`` | ``sd21-base`` (pinned revisions; ``revision`` overrides), a Hugging Face id,
    a local ``save_pretrained`` folder, or a fallback (``tiny-sd``, ``minisd``). A real Stable Diffusion needs a
    CUDA GPU unless ``allow_cpu`` (minutes per image on a CPU). Raises ``Unavailable`` (weights or GPU missing) or
    ValueError (bad option) before touching any large file.
    """
    device = torch.device(device) if device is not None else config.device()
    if name == "tiny-sd":
        from fdunlearn.models import tiny_sd

        return tiny_sd.build(config.output_dir() / "tiny-sd", seed=seed).to(device)
    if name == "minisd":
        from fdunlearn.models import minisd

        try:
            return minisd.load_pipeline("minisd").to(device)
        except FileNotFoundError as err:
            raise Unavailable(str(err)) from err
    torch_dtype = _dtype(dtype, device)
    if attention not in ATTENTION:  # checked before the (possibly long) load
        raise ValueError(f"unknown attention {attention!r}; accepted: {', '.join(ATTENTION)}")
    no_gpu = device.type == "cpu" and not allow_cpu
    if no_gpu and config.is_online():  # never download gigabytes that cannot be used
        raise Unavailable(f"{name!r} is a full-size Stable Diffusion and there is no CUDA GPU here; run on a GPU, "
                          "or pass allow_cpu=True to wait minutes per image")
    try:
        folder = weights_folder(name, revision)  # offline: only looks into the cache
    except Unavailable as err:
        if no_gpu:
            raise Unavailable(f"no CUDA GPU here, and {err}") from err
        raise
    if no_gpu:
        raise Unavailable(f"{name!r} is a full-size Stable Diffusion and there is no CUDA GPU here; run on a GPU, "
                          "or pass allow_cpu=True to wait minutes per image")
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(folder, torch_dtype=torch_dtype, safety_checker=None,
                                                   feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return configure(pipe, attention).to(device)


def load_with_fallback(name: str = "sd14", chain: tuple[str, ...] = FALLBACKS, **options) -> Loaded:
    """``load(name)``, else the first of ``chain`` that loads; every skipped link is recorded with its reason."""
    skipped: dict[str, str] = {}
    for candidate in dict.fromkeys([name, *chain]):
        try:
            pipe = load(candidate, **(options if candidate not in FALLBACKS else
                                      {k: v for k, v in options.items() if k in ("device", "seed")}))
        except Unavailable as err:
            skipped[candidate] = str(err)
            continue
        return Loaded(pipe, candidate, name, skipped)
    raise Unavailable("no pipeline could be loaded:\n" + "\n".join(f"- {k}: {v}" for k, v in skipped.items()))
