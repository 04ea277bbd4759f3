"""``python -m fdunlearn COMMAND``: the command line, on the same code path as the notebooks."""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from dataclasses import replace
from pathlib import Path

from fdunlearn import config, validate
from fdunlearn import files as io
from fdunlearn.datasets import captions, samples
from fdunlearn.erasure import weights as erase_params
from fdunlearn.evaluation import metrics
from fdunlearn.models import classifier, ddpm, minisd, training
from fdunlearn.models import registry as models
from fdunlearn.unlearning import guide, replay, unlearn

TRAIN_RECIPES = (*ddpm.RECIPES, *classifier.RECIPES, *minisd.RECIPES)

# Stated maxima of the command line (validate.py refuses anything outside, naming the range, before any work)
MAX_TRAIN_STEPS = 1_000_000
MAX_SAMPLES = 1_000_000  # and at most samples.MEMORY_SHARE of this machine's memory for the images
MAX_GUIDANCE = 50.0
MAX_FACTOR = 1e6
count = validate.integer  # readable argparse types: argparse names them by the accepted range


def _classes(text: str) -> list[int]:
    try:
        return metrics.check_classes([int(c) for c in text.split(",") if c.strip()])
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"bad --classes {text!r}: distinct integers in 0..9, "
                                         "comma-separated (e.g. 0,1,2)") from err


_classes.__name__ = "class list"


def cmd_train(args: argparse.Namespace) -> None:
    is_classifier = args.recipe in classifier.RECIPES
    if is_classifier and (args.steps or args.resume):
        raise ValueError(f"--steps and --resume apply to DDPM and MiniSD recipes, not {args.recipe!r} "
                         "(a classifier trains for its recipe's epochs in one go)")
    seed = args.seed
    if seed is None:
        seed = (training.stored_seed(Path(args.out) / ddpm.STATE_FILE) if args.resume else None) or 0
    if args.recipe in ddpm.RECIPES:
        recipe = ddpm.get_recipe(args.recipe)
        if args.steps:
            recipe = replace(recipe, steps=args.steps)
        ddpm.train(recipe, args.out, seed=seed, resume=args.resume)
    elif args.recipe in minisd.RECIPES:
        recipe = minisd.get_recipe(args.recipe)
        if args.steps:  # --steps sets the denoiser phase; the autoencoder phase keeps its length
            recipe = replace(recipe, unet_steps=args.steps)
        minisd.train(recipe, args.out, seed=seed, resume=args.resume)
    else:
        classifier.train(classifier.get_recipe(args.recipe), args.out, seed=seed)
    print(f"wrote {args.out}")


def _load_text_to_image(model: str, kind: str):
    """A StableDiffusionPipeline for a MiniSD folder or an erasure of one."""
    from fdunlearn.erasure import erase

    if kind == erase.KIND:
        return erase.load_erased(models.resolve(model), lambda base: minisd.load_pipeline(base or "minisd"))
    return minisd.load_pipeline(model)


def cmd_sample(args: argparse.Namespace) -> None:
    from fdunlearn.erasure import erase

    out = validate.output_file(args.out, suffix=".npz", overwrite=args.overwrite)
    folder = models.resolve(args.model)
    rec = models.read_record(folder)
    kind = rec.get("kind")
    accepted = ("ddpm", "pipeline", erase.KIND)
    if kind not in accepted:
        raise ValueError(f"model {args.model!r} is a {kind!r} folder; `sample` accepts: {', '.join(accepted)}")
    if kind == "ddpm":
        if args.prompt is not None:
            raise ValueError("--prompt applies to text-to-image models only; this model is unconditional")
        if args.guidance is not None:
            raise ValueError(f"--guidance {args.guidance:g} applies to text-to-image models only; this model is an "
                             "unconditional DDPM (it has no prompt to guide towards)")
        eta = ddpm.DDIM_ETA if args.eta is None else args.eta
        dataset = (rec.get("recipe") or {}).get("dataset") if isinstance(rec.get("recipe"), dict) else None
        if dataset not in samples.EXPECTED_SHAPE:
            raise ValueError(f"{folder / 'record.json'} names no dataset (recipe.dataset is {dataset!r}); accepted: "
                             f"{', '.join(samples.EXPECTED_SHAPE)}; rerun the command that wrote the folder")
        samples.check_memory(args.n, samples.EXPECTED_SHAPE[dataset][2])
    else:
        if args.eta is not None:
            raise ValueError("--eta applies to unconditional DDPMs only; text-to-image models sample with eta = 0")
        if args.prompt is None or not args.prompt.strip():
            raise ValueError(f"--prompt {args.prompt!r}: a text-to-image model needs a non-empty prompt, "
                             "e.g. --prompt 'a handwritten seven'")
        samples.check_memory(args.n, 1)
    t0 = time.time()
    if kind == "ddpm":
        unet, scheduler, rec = models.load_ddpm(args.model)
        images = ddpm.sample(unet, scheduler, args.n, seed=args.seed, steps=args.steps, eta=eta)
        extra = dict(dataset=rec["recipe"]["dataset"], data_source=rec.get("data_source"), eta=eta)
        prompts = None
    else:
        pipe = _load_text_to_image(args.model, kind)
        guidance = args.guidance if args.guidance is not None else minisd.RECIPES["minisd"].guidance
        images = minisd.generate(pipe, args.prompt, args.n, seed=args.seed, steps=args.steps, guidance=guidance,
                                 progress=True)
        extra = dict(dataset="mnist", prompt=args.prompt, guidance=guidance)
        prompts = [args.prompt] * args.n
    seconds = time.time() - t0
    record = io.record(kind="samples", model=str(args.model), model_sha256=rec.get("sha256"), n=args.n,
                       seed=args.seed, ddim_steps=args.steps, seconds=round(seconds, 1), **extra)
    samples.save(out, images, record, prompts=prompts)
    print(f"wrote {args.n} samples to {out} in {seconds:.1f} s")


def cmd_evaluate(args: argparse.Namespace) -> None:
    images, _ = samples.load(args.samples, args.dataset)
    if len(images) < metrics.MIN_IMAGES:
        raise ValueError(f"{args.samples} holds {len(images)} image(s) to evaluate; accepted: at least "
                         f"{metrics.MIN_IMAGES} (FID and KID compare two distributions)")
    report = metrics.evaluate(args.dataset, images, args.classes)
    print(metrics.to_json(report, indent=2) if args.json else metrics.format_report(report))


def cmd_unlearn(args: argparse.Namespace) -> None:
    if args.method not in unlearn.FUNCTION_SPACE and (args.fs_weight is not None or args.replay_n is not None
                                                      or not args.replay_filter or args.prior_weight
                                                      or args.replay_filter_ratio is not None or args.replay_near):
        raise ValueError(f"--fs-weight, --replay-n, --no-replay-filter, --replay-filter-ratio, --replay-near and "
                         f"--prior-weight apply to --method {', '.join(unlearn.FUNCTION_SPACE)} only, not "
                         f"{args.method!r}")
    if args.method == "fs-redirect" and args.forget_t_min is not None:
        raise ValueError("--forget-t-min applies to the ascent term of vdu, vdu-fs, ga, l2 and salun, not "
                         "'fs-redirect' (its redirect term draws t >= 200)")
    if args.method != "fs-guide" and (args.guide_band_only or any(
            getattr(args, k) is not None for k in ("guide_scale", "guide_t_max", "guide_gate_t", "guide_gate_w"))):
        raise ValueError(f"--guide-scale, --guide-t-max, --guide-band-only, --guide-gate-t and --guide-gate-w apply to "
                         f"--method fs-guide only, not {args.method!r}")
    if args.method in (*unlearn.FUNCTION_SPACE, "ga") and args.gamma is not None:
        raise ValueError(f"--gamma applies to --method vdu, l2 and salun, not {args.method!r} "
                         "(vdu-fs weighs its stability term with --fs-weight)")
    folder = models.resolve(args.model, kind="ddpm")
    validate.output_folder(args.out, previous=unlearn.is_output, inputs={"--model": folder},
                           what="a previous `unlearn` output (it is replaced)")
    defaults = unlearn.UnlearnConfig(**unlearn.METHOD_DEFAULTS.get(args.method, {}))
    given = ("gamma", "lr", "fs_weight", "replay_filter_ratio", "forget_t_min", "replay_near", "guide_scale",
             "guide_t_max", "guide_gate_t", "guide_gate_w", "ema")  # the method's default unless given
    cfg = unlearn.UnlearnConfig(
        method=args.method, forget_class=args.forget_class, n_forget=args.n_forget, seed=args.seed, prior=args.prior,
        weighting=args.weighting, steps=args.steps or config.pick(defaults.steps, 3), stop_factor=args.stop_factor,
        replay_n=config.pick(defaults.replay_n, 8) if args.replay_n is None else args.replay_n,
        replay_filter=args.replay_filter, prior_weight=args.prior_weight, guide_band_only=args.guide_band_only,
        **{k: getattr(defaults, k) if getattr(args, k) is None else getattr(args, k) for k in given})
    out = unlearn.unlearn(args.model, cfg, args.out)
    print(f"wrote {out}")


def cmd_erase(args: argparse.Namespace) -> None:
    from fdunlearn.erasure import erase

    captions.check_distinct(args.target)
    folder = models.resolve(args.model)
    kind = models.read_record(folder).get("kind")
    if kind not in ("pipeline", erase.KIND):
        raise ValueError(f"model {args.model!r} is a {kind!r} folder; `erase` accepts: minisd, a folder written by "
                         "`train --recipe minisd`, or an erasure of one")
    out = Path(args.out).expanduser()
    validate.output_folder(out, inputs={"--model": folder}, what="an interrupted erasure to --resume",
                           previous=lambda f: (f / erase.STATE_FILE).exists() or (f / "record.json").exists())
    concepts = [erase.Concept(*map(tuple, captions.pairs(target, args.anchor)), name=target) for target in args.target]
    if args.lr is not None and args.optimizer != "sgd" and args.lr > erase.MAX_LR:
        raise ValueError(f"argument --lr: got '{args.lr:g}'; accepted: a finite number in (0, {erase.MAX_LR:g}] "
                         f"with --optimizer adam, (0, {erase.MAX_SGD_LR:g}] with --optimizer sgd")
    preset = ERASE_PRESETS[args.preset] if args.preset else {}
    given = dict(steps=args.steps, lr=args.lr, scaling=args.scaling, temperature=args.temperature, border=args.border,
                 weight_decay=args.weight_decay, optimizer=args.optimizer, critic=args.critic,
                 anchor_negative=args.anchor_negative, away=args.away, preserve=args.preserve)
    overrides = preset | {k: v for k, v in given.items() if v is not None}  # explicit options win over the preset
    overrides = config.pick({}, dict(steps=3, n_anchor_images=8, anchor_steps=3)) | overrides  # tiny in fast mode
    overrides.setdefault("steps", erase.MINISD_STEPS)  # MiniSD's default length (the reference's 500 is too short)
    overrides.setdefault("lr", erase.EraseConfig.lr * erase.MINISD_LR_MULT)  # and lr (erase_defaults measures both)
    overrides.setdefault("anchor_negative", erase.MINISD_ANCHOR_NEGATIVE)  # and the anchor images (erase_defaults)
    overrides.setdefault("away", erase.MINISD_AWAY)  # and the regression target's guidance (erase_defaults)
    # and its retain term's weight, where there is something to keep: --keep, or the other digits of digit targets
    keeps = bool(args.keep) or all(captions.digit_of(t) is not None for t in args.target)
    overrides.setdefault("preserve", erase.MINISD_PRESERVE if keeps and not args.variational else 0.0)
    if overrides["preserve"] or args.keep:  # --keep without --preserve is refused by erase.check
        overrides["keep"] = tuple(captions.kept_prompts(args.target, args.keep or [captions.OTHERS]))
    cfg = erase.EraseConfig(divergence=args.divergence, alpha=args.alpha, variational=args.variational,
                            params=args.params, seed=args.seed, **overrides)
    erase.check(cfg)
    erase._prepare_out(out, args.resume)  # all checked before the pipeline is loaded
    pipe = _load_text_to_image(args.model, kind)
    result = erase.erase(pipe, concepts, cfg, out=out, base=str(args.model), resume=args.resume)
    print(f"wrote {result.folder} ({cfg.label()}, {cfg.steps} steps, {result.seconds:.0f} s)")


# `erase --preset NAME`: EraseConfig fields set together (explicit options win)
ERASE_PRESETS = {
    # the paper's reference code (docs/reference-code.md): its closed-form argument, AdamW weight decay, border mask
    "reference-code": dict(scaling="reference-code", weight_decay=1e-2, border=1),
}

OUT_FILE = "refused when it exists, unless --overwrite; a folder, or a place that cannot be written, is refused"
OUT_FOLDER = ("a new or empty folder, {}; a folder holding other files, a file, or a folder equal to, inside or "
              "around --model is refused before any work")


def parser() -> argparse.ArgumentParser:
    p = validate.ArgumentParser(prog="python -m fdunlearn", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a DDPM or a classifier from a recipe")
    t.add_argument("--recipe", required=True, choices=TRAIN_RECIPES)
    t.add_argument("--out", required=True, help="output model folder: a new or empty folder, a run of the same "
                   "recipe and seed to --resume, or a classifier folder (replaced); a file, or a folder holding other "
                   "files, is refused before any work")
    t.add_argument("--steps", type=count(1, MAX_TRAIN_STEPS),
                   help=f"override the recipe's number of steps (DDPM; MiniSD: the denoiser phase), "
                   f"1..{MAX_TRAIN_STEPS}")
    t.add_argument("--seed", type=validate.seed, help="default 0; with --resume, the interrupted run's seed")
    t.add_argument("--resume", action="store_true", help="continue an interrupted run in --out (same recipe and seed)")
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help="generate images into an .npz sample file")
    s.add_argument("--model", required=True, help=f"shipped name ({', '.join(models.SHIPPED)}) or folder")
    s.add_argument("--n", type=count(1, MAX_SAMPLES), required=True,
                   help=f"number of images, 1..{MAX_SAMPLES} and at most {100 * samples.MEMORY_SHARE:.0f}%% of this "
                   "machine's memory for them")
    s.add_argument("--seed", type=validate.seed, required=True)
    s.add_argument("--out", required=True, help=f"output .npz file; {OUT_FILE}")
    s.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    s.add_argument("--steps", type=count(1, ddpm.T_STEPS), default=50,
                   help=f"DDIM steps, 1..{ddpm.T_STEPS} (default 50)")
    s.add_argument("--eta", type=validate.real(0.0, 1.0), help=f"DDIM eta for DDPMs, 0..1 (default {ddpm.DDIM_ETA:g}: "
                   "fresh noise every step; 0: deterministic)")
    s.add_argument("--prompt", help="text prompt (text-to-image models)")
    s.add_argument("--guidance", type=validate.real(1.0, MAX_GUIDANCE),
                   help=f"classifier-free guidance scale, text-to-image only: 1 (none)..{MAX_GUIDANCE:g} (default 3)")
    s.set_defaults(func=cmd_sample)

    u = sub.add_parser("unlearn", help="make a DDPM forget a class from a few of its images")
    u.add_argument("--model", required=True, help="mnist-ddpm, cifar10-ddpm or a DDPM model folder")
    u.add_argument("--method", required=True, choices=unlearn.METHODS)
    u.add_argument("--forget-class", required=True, type=count(0, 9), help="class to forget, 0..9")
    u.add_argument("--n-forget", required=True, type=count(1, 100_000),
                   help="number of forget images available (at most the class's training images)")
    u.add_argument("--seed", type=validate.seed, required=True)
    u.add_argument("--out", required=True, help="output model folder: " + OUT_FOLDER.format(
        "or a previous `unlearn` output (replaced)"))
    u.add_argument("--gamma", type=validate.real(0.0, 1.0), help="VDU trade-off in [0, 1] (default 0.7)")
    u.add_argument("--prior", choices=unlearn.PRIORS, default="checkpoints")
    u.add_argument("--weighting", choices=unlearn.WEIGHTINGS, default=unlearn.UnlearnConfig.weighting,
                   help="C_t: ELBO weights or 1 (default uniform)")
    u.add_argument("--steps", type=count(1, MAX_TRAIN_STEPS),
                   help=f"optimizer steps, 1..{MAX_TRAIN_STEPS} (default 100; fs-guide {guide.RUN['steps']})")
    u.add_argument("--stop-factor", type=validate.real(1.0, MAX_FACTOR),
                   help=f"stop when the forget loss exceeds this x its start, 1..{MAX_FACTOR:g} (default: never; "
                   f"vdu-fs: {unlearn.FS_STOP_FACTOR:g})")
    u.add_argument("--lr", type=validate.real(0.0, 1.0, lo_open=True),
                   help=f"Adam learning rate in (0, 1] (default {unlearn.UnlearnConfig.lr:g})")
    u.add_argument("--fs-weight", type=validate.real(0.0, MAX_FACTOR),
                   help="vdu-fs, fs-redirect: weight lambda of the function-space stability term, "
                   f"0..{MAX_FACTOR:g} (default {unlearn.UnlearnConfig.fs_weight:g} for vdu-fs, "
                   f"{unlearn.METHOD_DEFAULTS['fs-redirect']['fs_weight']:g} for fs-redirect)")
    u.add_argument("--replay-n", type=count(1, 100_000), help="vdu-fs: samples of the pretrained model to replay "
                   f"(default {unlearn.UnlearnConfig.replay_n})")
    u.add_argument("--no-replay-filter", dest="replay_filter", action="store_false",
                   help="vdu-fs: keep every replay sample (default: drop those that look like the forget images, "
                   "judged from the forget images and the replay set alone)")
    u.add_argument("--replay-filter-ratio", type=validate.real(0.0, MAX_FACTOR, lo_open=True),
                   help="vdu-fs, fs-redirect: a replay sample is dropped when the forget images' k nearest are at most "
                   f"this many times as far as its k nearest replay samples (default {replay.FILTER_RATIO:g})")
    u.add_argument("--forget-t-min", type=count(0, ddpm.T_STEPS - 1),
                   help="smallest timestep of the forget (ascent) term, 0.."
                   f"{ddpm.T_STEPS - 1} (default {unlearn.UnlearnConfig.forget_t_min}; not fs-redirect)")
    u.add_argument("--replay-near", type=count(0, 100_000),
                   help="vdu-fs, fs-redirect, fs-guide: draw half of each stability batch from this many kept replay "
                   f"samples that look most like the forget images (default 0: all uniform; fs-guide "
                   f"{guide.DEFAULTS['replay_near']})")
    u.add_argument("--guide-scale", type=validate.real(0.0, MAX_FACTOR), help="fs-guide: strength of the Bayes "
                   f"correction, 0..{MAX_FACTOR:g} (default 1: the exact posterior)")
    u.add_argument("--guide-t-max", type=count(1, ddpm.T_STEPS),
                   help=f"fs-guide: the correction acts at --forget-t-min <= t < this, 1..{ddpm.T_STEPS} (default "
                   f"{guide.DEFAULTS['guide_t_max']}; fs-guide's --forget-t-min and --fs-weight default to "
                   f"{guide.DEFAULTS['forget_t_min']} and {guide.DEFAULTS['fs_weight']:g})")
    u.add_argument("--guide-band-only", action="store_true", help="fs-guide: noise the forget images only inside "
                   "the correction's band (default: at every t >= --forget-t-min)")
    u.add_argument("--guide-gate-t", type=count(0, ddpm.T_STEPS), help=f"fs-guide: below this t the correction "
                   f"acts only where its posterior w >= --guide-gate-w, 0..{ddpm.T_STEPS} (default 0: no gate)")
    u.add_argument("--guide-gate-w", type=validate.real(0.0, 1.0), help="fs-guide: see --guide-gate-t, 0..1 "
                   f"(default {unlearn.UnlearnConfig.guide_gate_w:g})")
    u.add_argument("--ema", type=validate.real(0.0, 1.0, hi_open=True),
                   help=f"save an average of the weights over the run, this decay per step, 0 <= ema < 1 (default "
                   f"{unlearn.UnlearnConfig.ema:g}: the last step's weights; fs-guide {guide.RUN['ema']:g})")
    u.add_argument("--prior-weight", type=validate.real(0.0, MAX_FACTOR), default=0.0,
                   help=f"vdu-fs: add VDU's weight prior with this weight, 0..{MAX_FACTOR:g}")
    u.set_defaults(func=cmd_unlearn)

    from fdunlearn.erasure import erase
    from fdunlearn.erasure import step as erase_step
    from fdunlearn.theory import losses

    r = sub.add_parser("erase", help="erase concepts from a text-to-image model with an f-divergence loss")
    r.add_argument("--model", required=True, help="minisd, a MiniSD folder, or an erasure folder")
    r.add_argument("--target", required=True, action="append", help=f"concept to erase (repeatable, distinct): "
                   f"{', '.join(captions.CONCEPTS)}")
    r.add_argument("--anchor", required=True, help="concept the targets are mapped to (e.g. digit, or plain for thick)")
    r.add_argument("--divergence", default="mse", help="mse, kl, hellinger, pearson_chi2, alpha, jensen_shannon ...")
    r.add_argument("--alpha", type=validate.real(), help="the alpha-divergence's parameter (finite, not 0 or 1)")
    r.add_argument("--variational", action="store_true", help="f-GAN bound with a critic instead of the closed form")
    r.add_argument("--params", choices=erase_params.GROUPS, default="kv", help="trainable group (default: attn2 K/V)")
    r.add_argument("--steps", type=count(1, erase.MAX_STEPS),
                   help=f"optimizer steps, 1..{erase.MAX_STEPS} (default 1000 on MiniSD: measured in lesson 04)")
    r.add_argument("--lr", type=validate.real(0.0, erase.MAX_SGD_LR, lo_open=True),
                   help=f"learning rate per sample in (0, {erase.MAX_LR:g}] (Adam; default 7e-5, times the batch "
                   f"size) or (0, {erase.MAX_SGD_LR:g}] (--optimizer sgd)")
    r.add_argument("--scaling", choices=losses.SCALINGS,
                   help="closed form's argument: reference (default: m/s^2, m = per-element mean squared gap), "
                   "reference-code (the paper's code: x = C m, summed over latent channels and averaged over the "
                   "border-masked pixels; mse, hellinger, pearson_chi2 only), exact (delta = kappa_t ||d eps||^2)")
    r.add_argument("--temperature", type=validate.real(0.0, None, lo_open=True),
                   help="temperature s > 0 of the closed forms (argument / s^2; default 1; mse ignores it)")
    r.add_argument("--border", type=count(0, 64, what="an integer in 0..64"),
                   help="latent pixels masked out of the loss on each side, 0..64 (default 0; the reference code: 1)")
    r.add_argument("--weight-decay", type=validate.real(0.0, None),
                   help="decoupled weight decay >= 0 (default 0; the reference code's AdamW: 1e-2)")
    r.add_argument("--optimizer", choices=erase_step.OPTIMIZERS,
                   help="adam (default: AdamW, a constant factor on the loss cancels) or sgd (plain SGD without "
                   "momentum at --lr: the divergence's gradient magnitude reaches the weights)")
    r.add_argument("--critic", choices=erase_step.CRITICS,
                   help="variational only: fixed (default) or leaky (reproduce the reference code's bug: the "
                   "generator's gradient leaks into the critic's next update)")
    r.add_argument("--anchor-negative", action=argparse.BooleanOptionalAction, default=None,
                   help="draw the anchor images with the first target prompt as negative prompt, so they do not show "
                   f"the target (default on MiniSD: {'on' if erase.MINISD_ANCHOR_NEGATIVE else 'off'}, measured by "
                   "python -m fdunlearn.erase_defaults)")
    r.add_argument("--away", type=validate.real(0.0, erase.MAX_GUIDANCE),
                   help=f"guide the regression target away from the target prompt by G in 0..{erase.MAX_GUIDANCE:g}: "
                   "eps(anchor) - G (eps(target) - eps(anchor)), ESD-style (default on MiniSD: "
                   f"{erase.MINISD_AWAY:g}, measured by python -m fdunlearn.erase_defaults; 0 = Concept Ablation)")
    r.add_argument("--preserve", type=validate.real(0.0, erase.MAX_PRESERVE), help="weight in 0.."
                   f"{erase.MAX_PRESERVE:g} of a term holding the --keep prompts at the original model (closed forms; "
                   f"default on MiniSD: {erase.MINISD_PRESERVE:g}, measured by python -m fdunlearn.erase_defaults)")
    r.add_argument("--keep", nargs="+", metavar="CONCEPT", help="concepts whose prompts --preserve holds (default: "
                   f"{captions.OTHERS}, every digit not erased)")
    r.add_argument("--preset", choices=tuple(ERASE_PRESETS),
                   help="reference-code = --scaling reference-code --weight-decay 1e-2 --border 1 (the paper's "
                   "code; add --steps 500 for its length); explicit options override the preset")
    r.add_argument("--seed", type=validate.seed, required=True)
    r.add_argument("--out", required=True, help="output erasure folder: " + OUT_FOLDER.format(
        "or an interrupted erasure to --resume (a finished one is never replaced)"))
    r.add_argument("--resume", action="store_true", help="continue an interrupted erasure in --out")
    r.set_defaults(func=cmd_erase)

    b = sub.add_parser("bench", add_help=False, help="the weight-free Stable Diffusion-size erasure benchmark")
    b.add_argument("rest", nargs=argparse.REMAINDER, help="options of `python -m fdunlearn bench --help`")

    st = sub.add_parser("sd-table", add_help=False, help="lesson 05: the paper's erasure table on Stable Diffusion")
    st.add_argument("rest", nargs=argparse.REMAINDER, help="options of `python -m fdunlearn sd-table --help`")

    from fdunlearn.erasure import attacks as attack

    attack.add_command(sub)  # `attack`: does an erased concept come back under paraphrases, inversion, prompt-opt?

    e = sub.add_parser("evaluate", help="score a sample file with the evaluation kit")
    e.add_argument("--dataset", required=True, choices=("mnist", "cifar10"))
    e.add_argument("--samples", required=True, help=f"an .npz sample file (at least {metrics.MIN_IMAGES} images)")
    e.add_argument("--classes", type=_classes, help="restrict FID/KID to these classes, e.g. 0,1,2")
    e.add_argument("--json", action="store_true",
                   help="print the full report as JSON (null where FID/KID is undefined)")
    e.set_defaults(func=cmd_evaluate)
    return p


# Commands with their own parser: main hands them their arguments before this parser sees any (argparse's REMAINDER
# would refuse their leading --options); their entries above only list them in --help.
PASS_THROUGH = {"bench": "studies.bench", "sd-table": "studies.sd_table"}


def main(argv: list[str] | None = None) -> int:
    """Run one command; 0 on success, 2 with one ``error: ...`` line on stderr for bad input (never a traceback)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in PASS_THROUGH:
        return importlib.import_module(f"fdunlearn.{PASS_THROUGH[argv[0]]}").main(argv[1:])

    def body() -> None:
        args = parser().parse_args(argv)
        config.device()
        args.func(args)

    return validate.run(body, interrupted="interrupted: nothing half-written was left behind; rerun with --resume "
                        "to continue")
