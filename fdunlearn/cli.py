"""``python -m fdunlearn COMMAND``: the command line, on the same code path as the notebooks."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace

from fdunlearn import classifier, config, ddpm, io, metrics, models, samples, unlearn

TRAIN_RECIPES = (*ddpm.RECIPES, *classifier.RECIPES)


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
    else:
        classifier.train(classifier.get_recipe(args.recipe), args.out, seed=args.seed)
    print(f"wrote {args.out}")


def cmd_sample(args: argparse.Namespace) -> None:
    folder = models.resolve(args.model)
    kind = models.read_record(folder).get("kind")
    if kind != "ddpm":
        raise ValueError(f"model {args.model!r} is a {kind!r} folder; `sample` accepts: ddpm model folders")
    if args.prompt is not None:
        raise ValueError("--prompt applies to text-to-image models only; this model is unconditional")
    unet, scheduler, rec = models.load_ddpm(args.model)
    t0 = time.time()
    images = ddpm.sample(unet, scheduler, args.n, seed=args.seed, steps=args.steps)
    seconds = time.time() - t0
    record = io.record(kind="samples", model=str(args.model), model_sha256=rec["sha256"], n=args.n,
                       seed=args.seed, ddim_steps=args.steps, dataset=rec["recipe"]["dataset"],
                       data_source=rec.get("data_source"), seconds=round(seconds, 1))
    samples.save(args.out, images, record)
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
        stop_factor=args.stop_factor)
    out = unlearn.unlearn(args.model, cfg, args.out)
    print(f"wrote {out}")


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
    s.add_argument("--prompt", help="text prompt (text-to-image models)")
    s.set_defaults(func=cmd_sample)

    u = sub.add_parser("unlearn", help="make a DDPM forget a class from a few of its images")
    u.add_argument("--model", required=True, help="mnist-ddpm, cifar10-ddpm or a DDPM model folder")
    u.add_argument("--method", required=True, choices=unlearn.METHODS)
    u.add_argument("--forget-class", required=True, type=int, help="class to forget, 0..9")
    u.add_argument("--n-forget", required=True, type=int, help="number of forget images available")
    u.add_argument("--seed", type=int, required=True)
    u.add_argument("--out", required=True, help="output model folder")
    u.add_argument("--gamma", type=_unit_interval, help="VDU trade-off in [0, 1] (default 0.5)")
    u.add_argument("--prior", choices=unlearn.PRIORS, default="checkpoints")
    u.add_argument("--weighting", choices=unlearn.WEIGHTINGS, default="elbo", help="C_t: ELBO weights or 1")
    u.add_argument("--steps", type=_positive, help="optimizer steps (default 200)")
    u.add_argument("--stop-factor", type=float, help="stop when the forget loss exceeds this x its start")
    u.set_defaults(func=cmd_unlearn)

    e = sub.add_parser("evaluate", help="score a sample file with the evaluation kit")
    e.add_argument("--dataset", required=True, choices=("mnist", "cifar10"))
    e.add_argument("--samples", required=True, help="an .npz sample file")
    e.add_argument("--classes", type=_classes, help="restrict FID/KID to these classes, e.g. 0,1,2")
    e.add_argument("--json", action="store_true", help="print the full report as JSON")
    e.set_defaults(func=cmd_evaluate)
    return p


def main(argv: list[str] | None = None) -> int:
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
