"""``python -m fdunlearn COMMAND``: the command line, on the same code path as the notebooks."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace

from fdunlearn import captions, classifier, config, ddpm, io, metrics, minisd, models, samples, unlearn

TRAIN_RECIPES = (*ddpm.RECIPES, *classifier.RECIPES, *minisd.RECIPES)
PARAM_GROUPS = ("kv", "cross-attn", "unet")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _classes(text: str) -> list[int]:
    try:
        return metrics.check_classes([int(c) for c in text.split(",") if c.strip()])
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"bad --classes {text!r}: distinct integers in 0..9, "
                                         "comma-separated (e.g. 0,1,2)") from err


def cmd_train(args: argparse.Namespace) -> None:
    if args.recipe in ddpm.RECIPES:
        recipe = ddpm.get_recipe(args.recipe)
        if args.steps:
            recipe = replace(recipe, steps=args.steps)
        ddpm.train(recipe, args.out, seed=args.seed, resume=args.resume)
    elif args.recipe in minisd.RECIPES:
        recipe = minisd.get_recipe(args.recipe)
        if args.steps:  # --steps sets the denoiser phase; the autoencoder phase keeps its length
            recipe = replace(recipe, unet_steps=args.steps)
        minisd.train(recipe, args.out, seed=args.seed, resume=args.resume)
    else:
        classifier.train(classifier.get_recipe(args.recipe), args.out, seed=args.seed)
    print(f"wrote {args.out}")


def _load_text_to_image(model: str, kind: str):
    """A StableDiffusionPipeline for a MiniSD folder or an erasure of one."""
    from fdunlearn import erase

    if kind == erase.KIND:
        return erase.load_erased(models.resolve(model), lambda base: minisd.load_pipeline(base or "minisd"))
    return minisd.load_pipeline(model)


def cmd_sample(args: argparse.Namespace) -> None:
    from fdunlearn import erase

    folder = models.resolve(args.model)
    rec = models.read_record(folder)
    kind = rec.get("kind")
    accepted = ("ddpm", "pipeline", erase.KIND)
    if kind not in accepted:
        raise ValueError(f"model {args.model!r} is a {kind!r} folder; `sample` accepts: {', '.join(accepted)}")
    t0 = time.time()
    if kind == "ddpm":
        if args.prompt is not None:
            raise ValueError("--prompt applies to text-to-image models only; this model is unconditional")
        eta = ddpm.DDIM_ETA if args.eta is None else args.eta
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"--eta {eta!r}: DDIM's eta must be in [0, 1] (0 deterministic, 1 DDPM-like)")
        unet, scheduler, rec = models.load_ddpm(args.model)
        images = ddpm.sample(unet, scheduler, args.n, seed=args.seed, steps=args.steps, eta=eta)
        extra = dict(dataset=rec["recipe"]["dataset"], data_source=rec.get("data_source"), eta=eta)
        prompts = None
    else:
        if args.eta is not None:
            raise ValueError("--eta applies to unconditional DDPMs only; text-to-image models sample with eta = 0")
        if args.prompt is None or not args.prompt.strip():
            raise ValueError(f"--prompt {args.prompt!r}: a text-to-image model needs a non-empty prompt, "
                             "e.g. --prompt 'a handwritten seven'")
        pipe = _load_text_to_image(args.model, kind)
        guidance = args.guidance if args.guidance is not None else minisd.RECIPES["minisd"].guidance
        images = minisd.generate(pipe, args.prompt, args.n, seed=args.seed, steps=args.steps, guidance=guidance,
                                 progress=True)
        extra = dict(dataset="mnist", prompt=args.prompt, guidance=guidance)
        prompts = [args.prompt] * args.n
    seconds = time.time() - t0
    record = io.record(kind="samples", model=str(args.model), model_sha256=rec.get("sha256"), n=args.n,
                       seed=args.seed, ddim_steps=args.steps, seconds=round(seconds, 1), **extra)
    samples.save(args.out, images, record, prompts=prompts)
    print(f"wrote {args.n} samples to {args.out} in {seconds:.1f} s")


def cmd_evaluate(args: argparse.Namespace) -> None:
    images, _ = samples.load(args.samples, args.dataset)
    report = metrics.evaluate(args.dataset, images, args.classes)
    print(json.dumps(report, indent=2) if args.json else metrics.format_report(report))


def _unit_interval(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"gamma={text} out of range; accepted: 0 <= gamma <= 1")
    return value


def cmd_unlearn(args: argparse.Namespace) -> None:
    defaults = unlearn.UnlearnConfig()
    cfg = unlearn.UnlearnConfig(
        method=args.method, forget_class=args.forget_class, n_forget=args.n_forget, seed=args.seed,
        gamma=defaults.gamma if args.gamma is None else args.gamma, prior=args.prior,
        weighting=args.weighting, steps=args.steps or config.pick(defaults.steps, 3),
        stop_factor=args.stop_factor, lr=defaults.lr if args.lr is None else args.lr,
        fs_weight=defaults.fs_weight if args.fs_weight is None else args.fs_weight,
        replay_n=config.pick(defaults.replay_n, 8) if args.replay_n is None else args.replay_n,
        replay_filter=args.replay_filter, prior_weight=args.prior_weight)
    if args.method != "vdu-fs" and (args.fs_weight is not None or args.replay_n is not None
                                    or not args.replay_filter or args.prior_weight):
        raise ValueError(f"--fs-weight, --replay-n, --no-replay-filter and --prior-weight apply to --method vdu-fs "
                         f"only, not {args.method!r}")
    if args.method in ("vdu-fs", "ga") and args.gamma is not None:
        raise ValueError(f"--gamma applies to --method vdu, l2 and salun, not {args.method!r} "
                         "(vdu-fs weighs its stability term with --fs-weight)")
    out = unlearn.unlearn(args.model, cfg, args.out)
    print(f"wrote {out}")


def cmd_erase(args: argparse.Namespace) -> None:
    from fdunlearn import erase

    kind = models.read_record(models.resolve(args.model)).get("kind")
    if kind not in ("pipeline", erase.KIND):
        raise ValueError(f"model {args.model!r} is a {kind!r} folder; `erase` accepts: minisd, a folder written by "
                         "`train --recipe minisd`, or an erasure of one")
    concepts = [erase.Concept(*map(tuple, captions.pairs(target, args.anchor)), name=target) for target in args.target]
    overrides = {k: v for k, v in dict(steps=args.steps, lr=args.lr).items() if v is not None}
    if config.is_fast():  # tiny sizes for tests and CI
        overrides = dict(steps=3, n_anchor_images=8, anchor_steps=3) | overrides
    overrides.setdefault("steps", erase.MINISD_STEPS)  # MiniSD's default length (the reference's 500 is too short)
    cfg = erase.EraseConfig(divergence=args.divergence, alpha=args.alpha, variational=args.variational,
                            params=args.params, seed=args.seed, **overrides)
    pipe = _load_text_to_image(args.model, kind)
    result = erase.erase(pipe, concepts, cfg, out=args.out, base=str(args.model), resume=args.resume)
    print(f"wrote {result.folder} ({cfg.label()}, {cfg.steps} steps, {result.seconds:.0f} s)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m fdunlearn", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a DDPM or a classifier from a recipe")
    t.add_argument("--recipe", required=True, choices=TRAIN_RECIPES)
    t.add_argument("--out", required=True, help="output model folder")
    t.add_argument("--steps", type=_positive, help="override the recipe's number of steps (DDPM)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help="generate images into an .npz sample file")
    s.add_argument("--model", required=True, help=f"shipped name ({', '.join(models.SHIPPED)}) or folder")
    s.add_argument("--n", type=_positive, required=True)
    s.add_argument("--seed", type=int, required=True)
    s.add_argument("--out", required=True, help="output .npz file")
    s.add_argument("--steps", type=_positive, default=50, help="DDIM steps (default 50)")
    s.add_argument("--eta", type=float, help=f"DDIM eta for DDPMs, 0..1 (default {ddpm.DDIM_ETA:g}: fresh noise "
                   "every step; 0: deterministic)")
    s.add_argument("--prompt", help="text prompt (text-to-image models)")
    s.add_argument("--guidance", type=float, help="classifier-free guidance scale (text-to-image; default 3)")
    s.set_defaults(func=cmd_sample)

    u = sub.add_parser("unlearn", help="make a DDPM forget a class from a few of its images")
    u.add_argument("--model", required=True, help="mnist-ddpm, cifar10-ddpm or a DDPM model folder")
    u.add_argument("--method", required=True, choices=unlearn.METHODS)
    u.add_argument("--forget-class", required=True, type=int, help="class to forget, 0..9")
    u.add_argument("--n-forget", required=True, type=int, help="number of forget images available")
    u.add_argument("--seed", type=int, required=True)
    u.add_argument("--out", required=True, help="output model folder")
    u.add_argument("--gamma", type=_unit_interval, help="VDU trade-off in [0, 1] (default 0.7)")
    u.add_argument("--prior", choices=unlearn.PRIORS, default="checkpoints")
    u.add_argument("--weighting", choices=unlearn.WEIGHTINGS, default=unlearn.UnlearnConfig.weighting,
                   help="C_t: ELBO weights or 1 (default uniform)")
    u.add_argument("--steps", type=_positive, help="optimizer steps (default 100)")
    u.add_argument("--stop-factor", type=float, help="stop when the forget loss exceeds this x its start")
    u.add_argument("--lr", type=float, help=f"Adam learning rate (default {unlearn.UnlearnConfig.lr:g})")
    u.add_argument("--fs-weight", type=float, help="vdu-fs: weight lambda of the function-space stability term "
                   f"(default {unlearn.UnlearnConfig.fs_weight:g})")
    u.add_argument("--replay-n", type=int, help="vdu-fs: samples of the pretrained model to replay "
                   f"(default {unlearn.UnlearnConfig.replay_n})")
    u.add_argument("--no-replay-filter", dest="replay_filter", action="store_false",
                   help="vdu-fs: keep every replay sample (default: drop those that look like the forget images, "
                   "judged from the forget images and the replay set alone)")
    u.add_argument("--prior-weight", type=float, default=0.0, help="vdu-fs: add VDU's weight prior with this weight")
    u.set_defaults(func=cmd_unlearn)

    r = sub.add_parser("erase", help="erase concepts from a text-to-image model with an f-divergence loss")
    r.add_argument("--model", required=True, help="minisd, a MiniSD folder, or an erasure folder")
    r.add_argument("--target", required=True, action="append", help=f"concept to erase (repeatable): "
                   f"{', '.join(captions.CONCEPTS)}")
    r.add_argument("--anchor", required=True, help="concept the targets are mapped to (e.g. digit, or plain for thick)")
    r.add_argument("--divergence", default="mse", help="mse, kl, hellinger, pearson_chi2, alpha, jensen_shannon ...")
    r.add_argument("--alpha", type=float, help="the alpha-divergence's parameter")
    r.add_argument("--variational", action="store_true", help="f-GAN bound with a critic instead of the closed form")
    r.add_argument("--params", choices=PARAM_GROUPS, default="kv", help="trainable group (default: attn2 K/V)")
    r.add_argument("--steps", type=_positive, help="optimizer steps (default 1000 on MiniSD: measured in lesson 04)")
    r.add_argument("--lr", type=float, help="learning rate per sample (default 7e-5, times the batch size)")
    r.add_argument("--seed", type=int, required=True)
    r.add_argument("--out", required=True, help="output erasure folder")
    r.add_argument("--resume", action="store_true", help="continue an interrupted erasure in --out")
    r.set_defaults(func=cmd_erase)

    b = sub.add_parser("bench", add_help=False, help="the weight-free Stable Diffusion-size erasure benchmark")
    b.add_argument("rest", nargs=argparse.REMAINDER, help="options of `python -m fdunlearn bench --help`")
    b.set_defaults(func=lambda a: _bench(a.rest))

    st = sub.add_parser("sd-table", add_help=False, help="lesson 05: the paper's erasure table on Stable Diffusion")
    st.add_argument("rest", nargs=argparse.REMAINDER, help="options of `python -m fdunlearn sd-table --help`")
    st.set_defaults(func=lambda a: _sd_table(a.rest))

    e = sub.add_parser("evaluate", help="score a sample file with the evaluation kit")
    e.add_argument("--dataset", required=True, choices=("mnist", "cifar10"))
    e.add_argument("--samples", required=True, help="an .npz sample file")
    e.add_argument("--classes", type=_classes, help="restrict FID/KID to these classes, e.g. 0,1,2")
    e.add_argument("--json", action="store_true", help="print the full report as JSON")
    e.set_defaults(func=cmd_evaluate)
    return p


def _bench(rest: list[str]) -> None:
    from fdunlearn import bench

    code = bench.main(rest)
    if code:
        raise SystemExit(code)


def _sd_table(rest: list[str]) -> None:
    from fdunlearn import sd_table

    code = sd_table.main(rest)
    if code:
        raise SystemExit(code)


PASS_THROUGH = {"bench": "bench", "sd-table": "sd_table"}  # commands with their own parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in PASS_THROUGH:  # argparse's REMAINDER would refuse their leading --options
        import importlib

        return importlib.import_module(f"fdunlearn.{PASS_THROUGH[argv[0]]}").main(argv[1:])
    args = parser().parse_args(argv)
    config.device()
    try:
        args.func(args)
    except (ValueError, FileNotFoundError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: nothing half-written was left behind; rerun with --resume to continue",
              file=sys.stderr)
        return 130
    return 0
