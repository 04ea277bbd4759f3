"""The paper's table on your GPU: erase a preset with each divergence, generate, score (lesson 05).

``python -m fdunlearn sd-table --model sd14 --preset van_gogh --anchor superclass --settings reference --out DIR``

For each row of Novello et al. (2025)'s table (MSE, Hellinger, chi^2, variational Hellinger; ``sd_presets``) it
erases the preset's concept(s) from the same base pipeline with the same anchor images (``erase.erase``; the
anchor cache is shared), generates images for the evaluation prompts from the same initial noise as the base
model, and scores them (``sd_eval``: target CS and CA, retained CS and CA, KID against the base model's images).

Written to ``DIR``: ``images.npz`` (uint8 images, ``base/<role>`` and ``<method>/<role>``), ``results.json`` (the
table, the prompt pairs, the settings, which pipeline and CLIP were used, the hardware, the times), ``table.md``, and
``erasures/<method>/`` (model folders with only the erased weights). A rerun skips the rows already generated, so an
interrupted table continues; ``load_results(DIR)`` replays everything (grids, table, widgets) without a GPU.

Multi-GPU: ``accelerate launch --num_processes N -m fdunlearn.sd_table ...`` gives each process (GPU) its share of
the rows (one erasure per GPU, not one erasure split across GPUs); process 0 generates the base images, waits for
the others and scores the whole table.
"""

from __future__ import annotations

import os
import re
import sys
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fdunlearn import config, validate
from fdunlearn import files as io
from fdunlearn.erasure import erase
from fdunlearn.erasure import presets as sd_presets
from fdunlearn.evaluation import clip as sd_eval
from fdunlearn.models import sd

IMAGES_FILE, RESULTS_FILE = "images.npz", "results.json"
LIMITS = {"n_per_prompt": 1000, "eval_steps": 1000, "eval_batch": 4096}  # stated maxima (validate.py)
MAX_GUIDANCE = 50.0
DTYPES = ("auto", *sd.DTYPES)


def is_table_folder(folder: Path) -> bool:
    """True for a folder written by ``run`` (finished or interrupted): it may be resumed."""
    return (folder / RESULTS_FILE).is_file() or (folder / "rows").is_dir()


@dataclass
class TableConfig:
    """Everything that defines a table (defaults: the paper's evaluation on Stable Diffusion v1.4)."""

    model: str = "sd14"  # sd.load name: sd14 | sd21 | sd21-base | hub id | folder | tiny-sd | minisd
    presets: tuple[str, ...] = ("van_gogh",)  # several = multi-concept erasure
    anchor: str = "superclass"  # superclass | near
    settings: str = "reference"  # sd_presets.SETTINGS
    methods: tuple[str, ...] = tuple(sd_presets.DIVERGENCES)
    n_eval_prompts: int | None = None  # per role (None: all 20)
    n_per_prompt: int = 5  # images per evaluation prompt
    eval_steps: int = 25  # DPM-Solver++ steps for evaluation images
    guidance: float = 7.5
    eval_batch: int = 8
    seed: int = 0
    clip: str = sd_eval.CLIP_ID  # or "tiny" (random, offline: the code path only)
    dtype: str = "auto"
    attention: str = "sdpa"
    gradient_checkpointing: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)  # extra EraseConfig fields

    def check(self) -> None:
        for p in self.presets:
            sd_presets.preset(p)
        sd_presets.concepts(list(self.presets), self.anchor)  # validates anchor kind and duplicates
        for m in self.methods:
            sd_presets.divergence(m)
        if not self.methods:
            raise ValueError(f"no methods; accepted: {', '.join(sd_presets.DIVERGENCES)}")
        for key, hi in LIMITS.items():
            validate.check_integer(key, getattr(self, key), 1, hi)
        if self.n_eval_prompts is not None:
            available = min(len(pairs) for p in self.presets
                            for pairs in sd_presets.eval_prompts(p, self.anchor).values())
            validate.check_integer("n_eval_prompts", self.n_eval_prompts, 1, available)
        validate.check_real("guidance", self.guidance, 1.0, MAX_GUIDANCE)
        validate.check_integer("seed", self.seed, 0, validate.SEED_MAX)
        if self.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}; accepted: {', '.join(DTYPES)}")
        if self.attention not in sd.ATTENTION:
            raise ValueError(f"unknown attention {self.attention!r}; accepted: {', '.join(sd.ATTENTION)}")
        self.erase_config(self.methods[0])

    def erase_config(self, method: str) -> erase.EraseConfig:
        return sd_presets.settings(self.settings, **sd_presets.divergence(method),
                                   gradient_checkpointing=self.gradient_checkpointing, seed=self.seed,
                                   **self.overrides)


def slug(method: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", method.lower()).strip("-")


def eval_pairs(cfg: TableConfig) -> dict[str, list[tuple[str, str]]]:
    """Evaluation prompt pairs by role; with several presets the roles are ``<preset>/target`` etc., and a
    surrounding concept that is itself erased is not counted as retained."""
    erased = {sd_presets.preset(p).target for p in cfg.presets}
    out: dict[str, list[tuple[str, str]]] = {}
    for p in cfg.presets:
        for role, pairs in sd_presets.eval_prompts(p, cfg.anchor, cfg.n_eval_prompts).items():
            if role in erased:
                continue
            key = f"{p}/{role}" if len(cfg.presets) > 1 and role in ("target", "anchor") else role
            out.setdefault(key, pairs)
    return out


def _distributed() -> tuple[int, int, Any]:
    """(process index, number of processes, accelerate state or None) under ``accelerate launch``."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1, None
    from accelerate import PartialState

    state = PartialState()
    return state.process_index, state.num_processes, state


def _generate_roles(pipe, cfg: TableConfig, pairs: dict[str, list[tuple[str, str]]], label: str,
                    progress: bool) -> dict[str, np.ndarray]:
    flat = [p for role_pairs in pairs.values() for p, _ in role_pairs]
    images = sd_eval.generate(pipe, flat, cfg.n_per_prompt, seed=cfg.seed + 1, steps=cfg.eval_steps,
                              guidance=cfg.guidance, batch=cfg.eval_batch, progress=progress,
                              desc=f"evaluation images ({label})")
    out, start = {}, 0
    for role, role_pairs in pairs.items():
        n = len(role_pairs) * cfg.n_per_prompt
        out[role], start = images[start:start + n], start + n
    return out


def _save_row(path: Path, images: dict[str, np.ndarray], seconds: float) -> None:
    with io.atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, seconds=np.array(seconds), **{f"role:{k}": v for k, v in images.items()})


def _load_row(path: Path) -> tuple[dict[str, np.ndarray], float]:
    with np.load(path) as d:
        return {k[5:]: d[k] for k in d.files if k.startswith("role:")}, float(d["seconds"])


def run(cfg: TableConfig, out: str | Path, *, loaded: sd.Loaded | None = None, clip: sd_eval.Clip | None = None,
        progress: bool = True) -> dict[str, Any]:
    """Build the table in ``out`` (resumable); returns the results dict that ``results.json`` holds."""
    cfg.check()
    out = validate.output_folder(out, previous=is_table_folder, what="a table folder written by sd-table (resumed)")
    rank, world, state = _distributed()
    if clip is None and rank == 0 and cfg.clip != "tiny":  # fail early, before hours of erasure
        clip = sd_eval.load_clip(cfg.clip)
    if loaded is None:
        device = state.device if state is not None else None
        loaded = sd.Loaded(sd.load(cfg.model, dtype=cfg.dtype, attention=cfg.attention, device=device,
                                   seed=cfg.seed), cfg.model, cfg.model)
    if clip is None and rank == 0:
        clip = sd_eval.tiny_clip(out / "tiny-clip", seed=cfg.seed)
    pipe, pairs = loaded.pipe, eval_pairs(cfg)
    concepts = sd_presets.concepts(list(cfg.presets), cfg.anchor)
    rows_dir = out / "rows"
    rows_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    jobs = (["base"] if rank == 0 else []) + list(cfg.methods)[rank::world]
    for method in jobs:
        path = rows_dir / f"{slug(method)}.npz"
        if path.is_file():
            continue
        start = time.time()
        if method == "base":
            _save_row(path, _generate_roles(pipe, cfg, pairs, "base model", progress), time.time() - start)
            continue
        folder = out / "erasures" / slug(method)
        if (folder / "record.json").is_file():
            previous = erase.apply(pipe, folder)
        else:
            result = erase.erase(pipe, concepts, cfg.erase_config(method), out=folder, base=loaded.name,
                                 cache_dir=out / "anchor_cache", progress=progress, resume=True)
            previous = result.original
        try:
            images = _generate_roles(pipe, cfg, pairs, method, progress)
        finally:
            erase.apply(pipe, previous)  # back to the base model for the next row
        _save_row(path, images, time.time() - start)
    if state is not None:
        state.wait_for_everyone()
    if rank != 0:
        return {}
    return _score(cfg, out, loaded, clip, pairs, time.time() - t0)


def _score(cfg: TableConfig, out: Path, loaded: sd.Loaded, clip: sd_eval.Clip,
           pairs: dict[str, list[tuple[str, str]]], seconds: float) -> dict[str, Any]:
    base, base_seconds = _load_row(out / "rows" / "base.npz")
    rows = {"original model": sd_eval.score(clip, base, pairs, cfg.n_per_prompt)}
    arrays = {f"base/{k}": v for k, v in base.items()}
    row_seconds = {"original model": round(base_seconds, 1)}
    for method in cfg.methods:
        images, s = _load_row(out / "rows" / f"{slug(method)}.npz")
        rows[method] = sd_eval.score(clip, images, pairs, cfg.n_per_prompt, base=base)
        arrays |= {f"{method}/{k}": v for k, v in images.items()}
        row_seconds[method] = round(s, 1)
    with io.atomic_path(out / IMAGES_FILE) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    results = io.record(kind="sd-erasure-table", pipeline=loaded.name, requested=loaded.requested,
                        fallback=loaded.is_fallback, real_weights=loaded.is_real, clip=clip.name,
                        config=asdict(cfg), erase_settings=asdict(cfg.erase_config(cfg.methods[0])),
                        pairs=pairs, methods=list(cfg.methods), rows=rows, seconds_per_row=row_seconds,
                        seconds=round(seconds, 1))
    io.write_json(results, out / RESULTS_FILE)
    (out / "table.md").write_text(sd_eval.format_table(rows) + "\n")
    return results


@dataclass
class Table:
    """A finished table, replayable without a GPU: the results record and every image by method and role."""

    info: dict[str, Any]
    images: dict[str, dict[str, np.ndarray]]  # method ('base' or a table row) -> role -> uint8 (N, H, W, C)

    @property
    def pairs(self) -> dict[str, list[tuple[str, str]]]:
        return {k: [tuple(p) for p in v] for k, v in self.info["pairs"].items()}

    @property
    def n_per_prompt(self) -> int:
        return int(self.info["config"]["n_per_prompt"])

    @property
    def methods(self) -> list[str]:
        return list(self.info["methods"])

    def table(self) -> str:
        rows = self.info["rows"]
        return sd_eval.format_table({m: rows[m] for m in ["original model", *self.methods]})

    def prompt_images(self, method: str, prompt: str) -> np.ndarray:
        """The images of one evaluation prompt from ``method`` ('base' or a row label)."""
        for role, pairs in self.pairs.items():
            for i, (p, _) in enumerate(pairs):
                if p == prompt:
                    n = self.n_per_prompt
                    return self.images[method][role][i * n:(i + 1) * n]
        raise ValueError(f"prompt {prompt!r} is not an evaluation prompt of this table")


def load_results(folder: str | Path) -> Table:
    """Read a table folder written by ``run`` (no model, no GPU needed)."""
    folder = Path(folder)
    if not (folder / RESULTS_FILE).is_file():
        raise FileNotFoundError(f"{folder} holds no {RESULTS_FILE}; accepted: a folder written by "
                                "`python -m fdunlearn sd-table --out DIR`")
    info = io.read_json(folder / RESULTS_FILE, "sd-table results file")
    if not isinstance(info, dict) or not {"pairs", "config", "methods", "rows"} <= set(info):
        raise ValueError(f"{folder / RESULTS_FILE} is not an sd-table results file (it lacks pairs, config, methods "
                         "or rows); rerun `python -m fdunlearn sd-table --out DIR` to rewrite it")
    if not (folder / IMAGES_FILE).is_file():
        raise FileNotFoundError(f"{folder} holds no {IMAGES_FILE}; rerun `python -m fdunlearn sd-table --out "
                                f"{folder}` to rewrite it")
    images: dict[str, dict[str, np.ndarray]] = {}
    try:
        with np.load(folder / IMAGES_FILE, allow_pickle=False) as d:
            for key in d.files:
                method, role = key.split("/", 1)
                images.setdefault(method, {})[role] = d[key]
    except (EOFError, OSError, ValueError, zipfile.BadZipFile, AttributeError) as err:
        raise ValueError(f"{folder / IMAGES_FILE} is not a readable image archive, it is truncated or corrupt "
                         f"({type(err).__name__}: {err}); rerun sd-table to rewrite it") from None
    return Table(info, images)


def parse(argv: list[str] | None = None) -> tuple[TableConfig, str]:
    """The table's settings and output folder; every option checked (ValueError naming it) before any work."""
    p = validate.ArgumentParser(prog="python -m fdunlearn sd-table", description=__doc__.splitlines()[0])
    p.add_argument("--model", default="sd14", help=f"{sd.accepted_names()}")
    p.add_argument("--preset", action="append", help=f"concept to erase, repeatable: {', '.join(sd_presets.PRESETS)}")
    p.add_argument("--anchor", default="superclass", help=f"{', '.join(sd_presets.ANCHOR_KINDS)}")
    p.add_argument("--settings", default="reference", help=f"{', '.join(sd_presets.SETTINGS)}")
    p.add_argument("--method", action="append", help=f"table row, repeatable (default all): "
                   f"{', '.join(sd_presets.DIVERGENCES)}")
    p.add_argument("--n-eval-prompts", type=validate.integer(1, 1000),
                   help="evaluation prompts per role, 1..the preset's (20 each; default: all)")
    p.add_argument("--n-per-prompt", type=validate.integer(1, LIMITS["n_per_prompt"]), default=5,
                   help=f"images per evaluation prompt, 1..{LIMITS['n_per_prompt']} (default 5)")
    p.add_argument("--eval-steps", type=validate.integer(1, LIMITS["eval_steps"]), default=25,
                   help=f"sampler steps, 1..{LIMITS['eval_steps']} (default 25)")
    p.add_argument("--eval-batch", type=validate.integer(1, LIMITS["eval_batch"]), default=8,
                   help=f"1..{LIMITS['eval_batch']} (default 8)")
    p.add_argument("--steps", type=validate.integer(1, erase.MAX_STEPS),
                   help=f"override the settings' erasure steps, 1..{erase.MAX_STEPS}")
    p.add_argument("--seed", type=validate.seed, default=0)
    p.add_argument("--clip", default=sd_eval.CLIP_ID, help="CLIP id or folder, or 'tiny' (random: code path only)")
    p.add_argument("--dtype", default="auto", choices=DTYPES, help="auto (fp16 on CUDA), fp32, fp16, bf16")
    p.add_argument("--attention", default="sdpa", choices=sd.ATTENTION, help=f"{', '.join(sd.ATTENTION)}")
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--out", required=True, help="output folder: new, empty, or a table folder written by sd-table "
                   "(resumed: the rows already made are kept); a file or a folder holding other files is refused")
    a = p.parse_args(argv)
    cfg = TableConfig(model=a.model, presets=tuple(a.preset or ["van_gogh"]), anchor=a.anchor, settings=a.settings,
                      methods=tuple(a.method or sd_presets.DIVERGENCES), n_eval_prompts=a.n_eval_prompts,
                      n_per_prompt=a.n_per_prompt, eval_steps=a.eval_steps, eval_batch=a.eval_batch, seed=a.seed,
                      clip=a.clip, dtype=a.dtype, attention=a.attention,
                      gradient_checkpointing=a.gradient_checkpointing,
                      overrides={"steps": a.steps} if a.steps else {})
    cfg.check()
    validate.output_folder(a.out, previous=is_table_folder, what="a table folder written by sd-table (resumed)")
    return cfg, a.out


def main(argv: list[str] | None = None) -> int:
    """Run the table; print it. Returns 0, or 2 with a one-line error (bad option, weights or GPU missing)."""
    def body() -> None:
        cfg, out = parse(argv)
        config.device()
        results = run(cfg, out)
        if results:
            print(load_results(out).table())
            print(f"wrote {out} ({results['seconds']:.0f} s)")

    return validate.run(body, errors=(sd.Unavailable,),
                        interrupted="interrupted: the rows already made are kept in --out; rerun the same command to "
                        "resume")


if __name__ == "__main__":
    torch.set_grad_enabled(True)
    sys.exit(main())
