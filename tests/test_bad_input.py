"""Bad numbers and bad files end in one ``error: ...`` line and exit status 2, never a traceback, and never clobber a
user's work (issue #22).

Every case runs a command in-process and checks: a non-zero exit code, no "Traceback" on stderr, an ``error:`` line,
and that the message names the bad value or file. Validation refuses before any work, so no case trains or samples;
the model folders are copies of the tiny fast-mode DDPM, hand-made records, or the shipped models (read only).
"""

from __future__ import annotations

import json
import shutil
import zipfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from fdunlearn import cli
from fdunlearn import files as io
from fdunlearn.datasets import samples
from fdunlearn.erasure import folder as erase_folder
from fdunlearn.models import ddpm, minisd
from fdunlearn.studies import bench, erase_study, eta_study

BIG_SEED = str(2**63)


def refused(capsys, fn, argv: list[str], *needles: str) -> str:
    """Run ``fn(argv)``; assert a clean refusal whose message holds every needle; return stderr."""
    code = fn([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code not in (0, None), f"exit code {code} for {argv}\n{err}"
    assert "Traceback" not in err, err
    assert "error:" in err, err
    for needle in needles:
        assert str(needle) in err, f"{needle!r} not in:\n{err}"
    return err


# ----------------------------------------------------------------------------- numbers, refused by argparse types
SAMPLE = ["sample", "--model", "mnist-ddpm", "--n", "2", "--seed", "0", "--out", "{out}/s.npz"]
TRAIN = ["train", "--recipe", "mnist-ddpm", "--out", "{out}/run"]
UNLEARN = ["unlearn", "--model", "mnist-ddpm", "--method", "vdu", "--forget-class", "7", "--n-forget", "8",
           "--seed", "0", "--out", "{out}/u"]
ERASE = ["erase", "--model", "minisd", "--target", "seven", "--anchor", "digit", "--seed", "0", "--out", "{out}/e"]
SD_TABLE = ["sd-table", "--model", "tiny-sd", "--clip", "tiny", "--out", "{out}/t"]

NUMBERS = [
    # sample
    (SAMPLE, "--n", "0", "got '0'; accepted: a positive integer <= 1000000"),
    (SAMPLE, "--n", "-3", "'-3'"),
    (SAMPLE, "--n", "100000000", "'100000000'"),
    (SAMPLE, "--n", "1.5", "'1.5'"),
    (SAMPLE, "--n", "many", "'many'"),
    (SAMPLE, "--seed", "-1", "'-1'"),
    (SAMPLE, "--seed", BIG_SEED, BIG_SEED),
    (SAMPLE, "--seed", "nan", "'nan'"),
    (SAMPLE, "--steps", "0", "'0'"),
    (SAMPLE, "--steps", "1001", "'1001'"),
    (SAMPLE, "--eta", "nan", "'nan'"),
    (SAMPLE, "--eta", "inf", "'inf'"),
    (SAMPLE, "--eta", "-0.1", "'-0.1'"),
    (SAMPLE, "--eta", "2", "'2'"),
    (SAMPLE, "--guidance", "nan", "'nan'"),
    (SAMPLE, "--guidance", "inf", "'inf'"),
    (SAMPLE, "--guidance", "-5", "'-5'"),
    (SAMPLE, "--guidance", "0.5", "'0.5'"),
    (SAMPLE, "--guidance", "51", "'51'"),
    # train
    (TRAIN, "--steps", "0", "'0'"),
    (TRAIN, "--steps", "1000001", "'1000001'"),
    (TRAIN, "--steps", "ten", "'ten'"),
    (TRAIN, "--seed", "-1", "'-1'"),
    (TRAIN, "--seed", BIG_SEED, BIG_SEED),
    # unlearn
    (UNLEARN, "--forget-class", "10", "'10'"),
    (UNLEARN, "--forget-class", "-1", "'-1'"),
    (UNLEARN, "--n-forget", "0", "'0'"),
    (UNLEARN, "--steps", "0", "'0'"),
    (UNLEARN, "--stop-factor", "nan", "'nan'"),
    (UNLEARN, "--stop-factor", "-1", "'-1'"),
    (UNLEARN, "--stop-factor", "inf", "'inf'"),
    (UNLEARN, "--stop-factor", "0.5", "'0.5'"),
    (UNLEARN, "--lr", "inf", "'inf'"),
    (UNLEARN, "--lr", "nan", "'nan'"),
    (UNLEARN, "--lr", "0", "'0'"),
    (UNLEARN, "--lr", "-0.0001", "'-0.0001'"),
    (UNLEARN, "--lr", "2", "'2'"),
    (UNLEARN, "--gamma", "1.5", "'1.5'"),
    (UNLEARN, "--gamma", "nan", "'nan'"),
    (UNLEARN, "--fs-weight", "-1", "'-1'"),
    (UNLEARN, "--fs-weight", "inf", "'inf'"),
    (UNLEARN, "--replay-n", "0", "'0'"),
    (UNLEARN, "--replay-filter-ratio", "0", "'0'"),
    (UNLEARN, "--prior-weight", "nan", "'nan'"),
    (UNLEARN, "--seed", "-5", "'-5'"),
    # erase
    (ERASE, "--lr", "inf", "'inf'"),
    (ERASE, "--lr", "nan", "'nan'"),
    (ERASE, "--lr", "0", "'0'"),
    (ERASE, "--lr", "-1", "'-1'"),
    (ERASE, "--lr", "5", "'5'"),
    (ERASE, "--lr", "2000", "'2000'"),
    (ERASE, "--steps", "0", "'0'"),
    (ERASE, "--steps", "2000000", "'2000000'"),
    (ERASE, "--alpha", "nan", "'nan'"),
    (ERASE, "--alpha", "inf", "'inf'"),
    (ERASE, "--seed", "-1", "'-1'"),
    (ERASE, "--temperature", "0", "'0'"),
    (ERASE, "--temperature", "-1", "'-1'"),
    (ERASE, "--temperature", "nan", "'nan'"),
    (ERASE, "--temperature", "inf", "'inf'"),
    (ERASE, "--away", "-1", "'-1'"),
    (ERASE, "--away", "nan", "'nan'"),
    (ERASE, "--preserve", "-1", "'-1'"),
    (ERASE, "--preserve", "inf", "'inf'"),
    (ERASE, "--border", "-1", "'-1'"),
    (ERASE, "--border", "65", "'65'"),
    (ERASE, "--weight-decay", "-0.1", "'-0.1'"),
    (ERASE, "--weight-decay", "nan", "'nan'"),
    (ERASE, "--optimizer", "adagrad", "'adagrad'"),
    (ERASE, "--critic", "buggy", "'buggy'"),
    (ERASE, "--scaling", "exactly", "'exactly'"),
    (ERASE, "--preset", "paper", "'paper'"),
    # sd-table (pass-through)
    (SD_TABLE, "--dtype", "fp8", "'fp8'"),
    (SD_TABLE, "--attention", "flash", "'flash'"),
    (SD_TABLE, "--n-eval-prompts", "1000", "n_eval_prompts=1000"),
    (SD_TABLE, "--n-eval-prompts", "21", "n_eval_prompts=21"),
    (SD_TABLE, "--n-eval-prompts", "0", "'0'"),
    (SD_TABLE, "--n-per-prompt", "0", "'0'"),
    (SD_TABLE, "--eval-steps", "0", "'0'"),
    (SD_TABLE, "--eval-batch", "0", "'0'"),
    (SD_TABLE, "--steps", "0", "'0'"),
    (SD_TABLE, "--seed", "-1", "'-1'"),
]


@pytest.mark.parametrize(("base", "option", "value", "needle"), NUMBERS,
                         ids=[f"{b[0]} {o} {v}" for b, o, v, _ in NUMBERS])
def test_cli_bad_numbers_are_refused_naming_the_value(capsys, tmp_path, base, option, value, needle):
    argv = [a.format(out=tmp_path) for a in base] + [option, value]
    err = refused(capsys, cli.main, argv, needle)
    assert "accepted" in err or "invalid choice" in err
    assert option in err or option.strip("-").replace("-", "_") in err  # names the option too
    assert not any(tmp_path.iterdir())  # nothing written


BENCH = [
    ("--latent", "-8", "'-8'"),
    ("--latent", "0", "'0'"),
    ("--latent", "12", "--latent 12"),
    ("--latent", "1024", "'1024'"),
    ("--warmup", "-1", "'-1'"),
    ("--batch", "0", "'0'"),
    ("--batch", "5000", "'5000'"),
    ("--steps", "0", "'0'"),
    ("--steps", "1e3", "'1e3'"),
    ("--seed", "-1", "'-1'"),
]


@pytest.mark.parametrize(("option", "value", "needle"), BENCH, ids=[f"{o} {v}" for o, v, _ in BENCH])
def test_bench_bad_numbers_are_refused(capsys, option, value, needle):
    refused(capsys, bench.main, ["--device", "cpu", "--tiny", option, value], needle)


ETA = [
    ("--n", "0", "'0'"),
    ("--steps", "0", "'0'"),
    ("--steps", "5000", "'5000'"),
    ("--etas", "nan", "nan"),
    ("--etas", "0,3", "eta must be in [0, 1], got 3.0"),
    ("--etas", "0,x", "'0,x'"),
    ("--seeds", "-1", "'-1'"),
    ("--seeds", "0,0", "seed 0 given twice"),
    ("--etas", "0,0", "eta 0.0 given twice"),
]


@pytest.mark.parametrize(("option", "value", "needle"), ETA, ids=[f"{o} {v}" for o, v, _ in ETA])
def test_eta_study_bad_numbers_are_refused(capsys, tmp_path, option, value, needle):
    refused(capsys, eta_study.main, ["--model", "mnist-ddpm", "--out", tmp_path / "x.json", option, value], needle)
    assert not (tmp_path / "x.json").exists()


# ----------------------------------------------------------------------------- sample files (evaluate)
def _npz(path: Path, **arrays) -> Path:
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def _good(n: int = 4, shape=(32, 32, 1)) -> np.ndarray:
    return np.zeros((n, *shape), dtype=np.uint8)


def _truncated(path: Path) -> Path:
    _npz(path, images=np.random.default_rng(0).integers(0, 255, (64, 32, 32, 1), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def _corrupt_member(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        import io as pyio

        buf = pyio.BytesIO()
        np.save(buf, np.random.default_rng(0).integers(0, 255, (64, 32, 32, 1), dtype=np.uint8))
        z.writestr("images.npy", buf.getvalue())
    raw = bytearray(path.read_bytes())
    for i in range(200, 400):  # inside the compressed member, before the central directory
        raw[i] ^= 0xFF
    path.write_bytes(bytes(raw))
    return path


def _bare(path: Path) -> Path:
    with open(path, "wb") as f:
        np.save(f, _good())
    return path


SAMPLE_FILES = {
    "empty": (lambda p: (p.write_bytes(b""), p)[1], "empty (0 bytes)"),
    "truncated": (_truncated, "not a readable .npz archive"),
    "corrupt member": (_corrupt_member, "cannot be read"),
    "text file": (lambda p: (p.write_text("hello, not an archive"), p)[1], "not a readable .npz archive"),
    "bare npy": (_bare, "bare uint8 array"),
    "no images array": (lambda p: _npz(p, pictures=_good()), "no 'images' array (found: pictures)"),
    "float images": (lambda p: _npz(p, images=_good().astype(np.float32)), "must be uint8"),
    "rank 3": (lambda p: _npz(p, images=np.zeros((4, 32, 32), np.uint8)), "(4, 32, 32)"),
    "2 channels": (lambda p: _npz(p, images=_good(shape=(32, 32, 2))), "2 channels"),
    "28x28": (lambda p: _npz(p, images=_good(shape=(28, 28, 1))), "(28, 28, 1) do not fit 'mnist'"),
    "rgb for mnist": (lambda p: _npz(p, images=_good(shape=(32, 32, 3))), "(32, 32, 3) do not fit 'mnist'"),
    "zero images": (lambda p: _npz(p, images=_good(0)), "holds 0 images"),
    "one image": (lambda p: _npz(p, images=_good(1)), "1 image(s) to evaluate; accepted: at least 2"),
    "record not json": (lambda p: _npz(p, images=_good(), record=np.array("{not json")), "'record' array"),
    "object array": (lambda p: _npz(p, images=np.array([1, "a"], dtype=object)), "cannot be read"),
    "a folder": (lambda p: (p.mkdir(), p)[1], "is a folder"),
    "missing": (lambda p: p, "no such sample file"),
}


@pytest.mark.parametrize("case", list(SAMPLE_FILES))
def test_evaluate_refuses_bad_sample_files_naming_them(capsys, tmp_path, case):
    make, needle = SAMPLE_FILES[case]
    path = make(tmp_path / "bad.npz")
    refused(capsys, cli.main, ["evaluate", "--dataset", "mnist", "--samples", path, "--json"], needle, "bad.npz")


def test_evaluate_refuses_mnist_images_for_cifar10(capsys, tmp_path):
    path = _npz(tmp_path / "m.npz", images=_good())
    refused(capsys, cli.main, ["evaluate", "--dataset", "cifar10", "--samples", path], "do not fit 'cifar10'")


def test_evaluate_refuses_a_bad_class_list(capsys, tmp_path):
    refused(capsys, cli.main, ["evaluate", "--dataset", "mnist", "--samples", tmp_path / "x.npz", "--classes", "3,12"],
            "3,12")


# ----------------------------------------------------------------------------- model folders
@pytest.fixture
def ddpm_copy(fast_ddpm, tmp_path) -> Path:
    return Path(shutil.copytree(fast_ddpm, tmp_path / "model"))


def _edit_record(folder: Path, **changes) -> None:
    rec = json.loads((folder / "record.json").read_text())
    for k, v in changes.items():
        if v is None:
            rec.pop(k, None)
        else:
            rec[k] = v
    (folder / "record.json").write_text(json.dumps(rec))


WEIGHTS = "unet/diffusion_pytorch_model.safetensors"


def _truncate_weights_keep_record(m: Path) -> None:
    w = m / WEIGHTS
    w.write_bytes(w.read_bytes()[:1000])
    _edit_record(m, sha256=io.sha256(w))


MODEL_FOLDERS = {
    "no record": (lambda m: (m / "record.json").unlink(), "has no record.json"),
    "record not json": (lambda m: (m / "record.json").write_text("{oops"), "record.json is not a valid model record"),
    "record a list": (lambda m: (m / "record.json").write_text("[1, 2]"), "is not a model record"),
    "record without sha256": (lambda m: _edit_record(m, sha256=None), "has no 'sha256' entry"),
    "record with a bad sha256": (lambda m: _edit_record(m, sha256="abc"), "'abc', not a SHA-256"),
    "record without recipe": (lambda m: _edit_record(m, recipe=None), "names no dataset"),
    "record of a classifier": (lambda m: _edit_record(m, kind="classifier"), "'classifier' folder"),
    "changed weights": (lambda m: (m / WEIGHTS).write_bytes((m / WEIGHTS).read_bytes()[:-1] + b"\x01"),
                        "SHA-256 mismatch"),
    "truncated weights, record rewritten": (_truncate_weights_keep_record, "cannot be loaded"),
    "no weights": (lambda m: (m / WEIGHTS).unlink(), "diffusion_pytorch_model.safetensors is missing"),
    "no scheduler": (lambda m: shutil.rmtree(m / "scheduler"), "scheduler_config.json is missing"),
    "no unet config": (lambda m: (m / "unet" / "config.json").unlink(), "unet/config.json is missing"),
    "corrupt unet config": (lambda m: (m / "unet" / "config.json").write_text("{"), "cannot be loaded"),
}


@pytest.mark.parametrize("case", list(MODEL_FOLDERS))
def test_sample_refuses_bad_model_folders_naming_the_file(capsys, tmp_path, ddpm_copy, case):
    damage, needle = MODEL_FOLDERS[case]
    damage(ddpm_copy)
    err = refused(capsys, cli.main, ["sample", "--model", ddpm_copy, "--n", "2", "--seed", "0", "--out",
                                     tmp_path / "s.npz", "--steps", "1"], needle, "model")
    assert "hub" not in err.lower() and "internet" not in err.lower() and "connect" not in err.lower()
    assert not (tmp_path / "s.npz").exists()


def test_a_model_that_is_a_file_is_refused(capsys, tmp_path):
    (tmp_path / "model.bin").write_bytes(b"x")
    refused(capsys, cli.main, ["sample", "--model", tmp_path / "model.bin", "--n", "2", "--seed", "0", "--out",
                               tmp_path / "s.npz"], "is a file", "model.bin")


def _erasure(folder: Path, base: str, **changes) -> Path:
    folder.mkdir(parents=True)
    io.save_tensors({"unet.w": torch.zeros(2)}, folder / erase_folder.WEIGHTS_FILE)
    rec = {"kind": erase_folder.KIND, "base_model": base, "base_sha256": "0" * 64,
           "weights_file": erase_folder.WEIGHTS_FILE, "sha256": io.sha256(folder / erase_folder.WEIGHTS_FILE)}
    rec |= changes
    io.write_json({k: v for k, v in rec.items() if v is not None}, folder / "record.json")
    return folder


ERASURES = {
    "base is itself": (lambda d: _erasure(d / "e", str(d / "e")), "loops"),
    "two erasures in a loop": (lambda d: (_erasure(d / "b", str(d / "e")), _erasure(d / "e", str(d / "b")))[1],
                               "loops"),
    "weights file missing": (lambda d: (_erasure(d / "e", "minisd"),
                                        (d / "e" / erase_folder.WEIGHTS_FILE).unlink())[0], "is missing"),
    "weights file outside": (lambda d: _erasure(d / "e", "minisd", weights_file="../w.safetensors"),
                             "'../w.safetensors'"),
    "no base fingerprint": (lambda d: _erasure(d / "e", "minisd", base_sha256=None), "'base_sha256'"),
    "no sha256": (lambda d: _erasure(d / "e", "minisd", sha256=None), "has no 'sha256' entry"),
}


@pytest.mark.parametrize("case", list(ERASURES))
def test_sample_refuses_bad_erasure_folders_before_loading_a_model(capsys, tmp_path, case):
    make, needle = ERASURES[case]
    folder = make(tmp_path)
    refused(capsys, cli.main, ["sample", "--model", folder, "--n", "2", "--seed", "0", "--out", tmp_path / "s.npz",
                               "--prompt", "a handwritten seven"], needle, "e")


# ----------------------------------------------------------------------------- training runs (train --resume)
def _state(folder: Path, recipe=None, seed: int = 0, drop: tuple[str, ...] = ()) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    recipe = recipe or ddpm.get_recipe("mnist-ddpm")
    metadata = {"step": "3", "seed": str(seed), "recipe": json.dumps(asdict(recipe))}
    io.save_tensors({"x": torch.zeros(1)}, folder / ddpm.STATE_FILE,
                    metadata={k: v for k, v in metadata.items() if k not in drop})
    return folder


TRAIN_RUNS = {
    "truncated state": (lambda d: ((d / "run").mkdir(), (d / "run" / ddpm.STATE_FILE).write_bytes(b"\x00" * 9))[0],
                        ["--recipe", "mnist-ddpm", "--resume"], "train_state.safetensors is not a readable"),
    "another ddpm recipe": (lambda d: _state(d / "run"), ["--recipe", "cifar10-ddpm", "--resume"], "cifar10-ddpm"),
    "a minisd recipe on a ddpm run": (lambda d: _state(d / "run"), ["--recipe", "minisd", "--resume"], "'minisd'"),
    "another seed": (lambda d: _state(d / "run"), ["--recipe", "mnist-ddpm", "--resume", "--seed", "9"],
                     "seed 0, not 9"),
    "a state without a recipe": (lambda d: _state(d / "run", drop=("recipe",)),
                                 ["--recipe", "mnist-ddpm", "--resume"], "is not a training checkpoint"),
    "a run without --resume": (lambda d: _state(d / "run"), ["--recipe", "mnist-ddpm"], "pass resume=True"),
    "a damaged log": (lambda d: (_state(d / "run"), (d / "run" / ddpm.LOG_FILE).write_text('{"step": 3}\n{oops\n')),
                      ["--recipe", "mnist-ddpm", "--resume"], "train_log.jsonl, line 2, is not valid JSON"),
    "a minisd state for another width": (
        lambda d: _state(d / "run", recipe=minisd.MiniSDRecipe()), ["--recipe", "minisd", "--resume"],
        "unet_channels"),
}


@pytest.mark.parametrize("case", list(TRAIN_RUNS))
def test_train_refuses_to_resume_another_run(capsys, tmp_path, case):
    make, args, needle = TRAIN_RUNS[case]
    make(tmp_path)
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()}
    refused(capsys, cli.main, ["train", "--out", tmp_path / "run", *args], needle)
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()} == before


@pytest.mark.parametrize("args", [["--steps", "5"], ["--resume"]])
def test_train_refuses_steps_and_resume_for_a_classifier(capsys, tmp_path, args):
    refused(capsys, cli.main, ["train", "--recipe", "mnist-classifier", "--out", tmp_path / "c", *args],
            "'mnist-classifier'")


# ----------------------------------------------------------------------------- output paths
@pytest.fixture
def pipeline_like(tmp_path) -> Path:
    """A folder whose record says MiniSD pipeline: `erase` checks its output before loading anything."""
    folder = tmp_path / "pipe"
    folder.mkdir()
    io.write_json({"kind": "pipeline"}, folder / "record.json")
    return folder


def _notes(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notes.txt").write_text("my work")
    return folder


def test_sample_out_that_is_a_folder(capsys, tmp_path):
    (tmp_path / "dir.npz").mkdir()
    refused(capsys, cli.main, [*SAMPLE[:-1], tmp_path / "dir.npz"], "is a folder", "dir.npz")


def test_sample_out_that_exists_is_kept_without_overwrite(capsys, tmp_path):
    (tmp_path / "s.npz").write_bytes(b"precious")
    refused(capsys, cli.main, [*SAMPLE[:-1], tmp_path / "s.npz"], "already exists", "--overwrite", "s.npz")
    assert (tmp_path / "s.npz").read_bytes() == b"precious"


def test_sample_out_with_another_suffix(capsys, tmp_path):
    refused(capsys, cli.main, [*SAMPLE[:-1], tmp_path / "s.png"], "s.png", ".npz")


def test_sample_out_where_nothing_can_be_written(capsys):
    refused(capsys, cli.main, [*SAMPLE[:-1], "/proc/fdunlearn-test/s.npz"], "cannot write in /proc")


def test_sample_out_below_a_file(capsys, tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    refused(capsys, cli.main, [*SAMPLE[:-1], tmp_path / "notes.txt" / "s.npz"], "notes.txt is a file, not a folder")


def test_sample_guidance_on_a_ddpm_is_refused(capsys, tmp_path):
    refused(capsys, cli.main, [*SAMPLE[:-1], tmp_path / "s.npz", "--guidance", "5"], "--guidance 5",
            "unconditional")


def test_sample_n_beyond_memory_is_refused_naming_the_limit(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(samples, "_memory_bytes", lambda: 8 * 2**30)
    refused(capsys, cli.main, ["sample", "--model", "mnist-ddpm", "--n", "1000000", "--seed", "0", "--out",
                               tmp_path / "s.npz"], "--n 1000000 needs about", "the limit is 4.0 GiB")


BENCH_JSON = {
    "a folder": (lambda d: ((d / "b.json").mkdir(), d / "b.json")[1], "is a folder"),
    "an existing file": (lambda d: ((d / "b.json").write_text("{}"), d / "b.json")[1], "already exists"),
    "in /proc": (lambda d: Path("/proc/x.json"), "cannot write in /proc"),
    "not .json": (lambda d: d / "b.txt", "b.txt"),
}


@pytest.mark.parametrize("case", list(BENCH_JSON))
def test_bench_json_is_checked_before_the_benchmark(capsys, tmp_path, monkeypatch, case):
    monkeypatch.setattr(bench, "build_unet", lambda args: pytest.fail("the benchmark ran"))
    make, needle = BENCH_JSON[case]
    refused(capsys, bench.main, ["--device", "cpu", "--tiny", "--json", make(tmp_path)], needle, "--json")


def test_train_out_holding_other_files_is_kept(capsys, tmp_path):
    out = _notes(tmp_path / "out")
    for recipe in ("mnist-ddpm", "mnist-classifier", "minisd"):
        refused(capsys, cli.main, ["train", "--recipe", recipe, "--out", out], "notes.txt", "holding other files")
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "my work"


def test_train_out_that_is_a_file(capsys, tmp_path):
    (tmp_path / "run").write_text("x")
    refused(capsys, cli.main, ["train", "--recipe", "mnist-ddpm", "--out", tmp_path / "run"], "is a file")


def test_train_out_where_nothing_can_be_written(capsys):
    refused(capsys, cli.main, ["train", "--recipe", "mnist-ddpm", "--out", "/proc/fdunlearn-run"], "cannot write")


UNLEARN_OUT = {
    "a file": (lambda d, m: ((d / "o").write_text("x"), d / "o")[1], "is a file"),
    "a folder holding other files": (lambda d, m: _notes(d / "o"), "notes.txt"),
    "the model folder": (lambda d, m: m, "the same folder as --model"),
    "inside the model folder": (lambda d, m: m / "unlearned", "inside --model"),
    "around the model folder": (lambda d, m: d, "holds --model"),
}


@pytest.mark.parametrize("case", list(UNLEARN_OUT))
def test_unlearn_out_never_clobbers(capsys, tmp_path, ddpm_copy, case):
    make, needle = UNLEARN_OUT[case]
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    refused(capsys, cli.main, ["unlearn", "--model", ddpm_copy, "--method", "ga", "--forget-class", "7",
                               "--n-forget", "4", "--seed", "0", "--out", make(tmp_path, ddpm_copy)], needle)
    after = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert set(before) <= set(after)  # nothing deleted
    io.verify_sha256(ddpm_copy / WEIGHTS, json.loads((ddpm_copy / "record.json").read_text())["sha256"])


ERASE_OUT = {
    "a file": (lambda d, m: ((d / "o").write_text("x"), d / "o")[1], "is a file"),
    "a folder holding other files": (lambda d, m: _notes(d / "o"), "notes.txt"),
    "the model folder": (lambda d, m: m, "the same folder as --model"),
    "inside the model folder": (lambda d, m: m / "erased", "inside --model"),
    "a finished erasure": (lambda d, m: _erasure(d / "o", "minisd"), "already holds a finished model folder"),
    "a truncated checkpoint to resume": (
        lambda d, m: ((d / "o").mkdir(), (d / "o" / "erase_state.safetensors").write_bytes(b"\x01" * 5), d / "o")[2],
        "erase_state.safetensors is not a readable"),
}


@pytest.mark.parametrize("case", list(ERASE_OUT))
def test_erase_out_is_checked_before_the_model_loads(capsys, tmp_path, pipeline_like, monkeypatch, case):
    monkeypatch.setattr(cli, "_load_text_to_image", lambda *a: pytest.fail("the pipeline was loaded"))
    make, needle = ERASE_OUT[case]
    out = make(tmp_path, pipeline_like)
    refused(capsys, cli.main, ["erase", "--model", pipeline_like, "--target", "seven", "--anchor", "digit", "--seed",
                               "0", "--out", out, "--steps", "2", "--resume"], needle)
    assert sorted(p.name for p in pipeline_like.iterdir()) == ["record.json"]


@pytest.mark.parametrize(("targets", "needle"), [(["seven", "seven"], "'seven' given twice"),
                                                 (["seven", "7"], "'7' given twice")])
def test_erase_refuses_a_duplicate_target(capsys, tmp_path, pipeline_like, targets, needle):
    argv = ["erase", "--model", pipeline_like, "--anchor", "digit", "--seed", "0", "--out", tmp_path / "e"]
    refused(capsys, cli.main, argv + [x for t in targets for x in ("--target", t)], needle)


ERASE_STUDY_OUT = {
    "a folder": (lambda d: ((d / "r.json").mkdir(), d / "r.json")[1], "is a folder"),
    "not json": (lambda d: ((d / "r.json").write_text("{not json"), d / "r.json")[1], "r.json is not a valid"),
    "another json": (lambda d: ((d / "r.json").write_text('{"a": 1}'), d / "r.json")[1], "not a results file"),
    "not .json": (lambda d: d / "r.txt", "r.txt"),
    "a cache that is a file": (lambda d: ((d / "c").write_text("x"), d / "c")[1], "is a file"),
}


@pytest.mark.parametrize("case", list(ERASE_STUDY_OUT))
def test_erase_study_checks_its_files_before_any_work(capsys, tmp_path, monkeypatch, case):
    monkeypatch.setattr(erase_study, "Study", lambda *a: pytest.fail("the study started"))
    make, needle = ERASE_STUDY_OUT[case]
    path = make(tmp_path)
    argv = ["--out", tmp_path / "ok.json", "--cache-dir", path] if case.startswith("a cache") else ["--out", path]
    refused(capsys, erase_study.main, argv, needle)


@pytest.mark.parametrize(("make", "needle"), [
    (lambda d: ((d / "x.json").write_text("{}"), d / "x.json")[1], "already exists"),
    (lambda d: ((d / "x.json").mkdir(), d / "x.json")[1], "is a folder"),
])
def test_eta_study_out_is_checked_before_sampling(capsys, tmp_path, make, needle):
    refused(capsys, eta_study.main, ["--model", "mnist-ddpm", "--out", make(tmp_path), "--n", "2"], needle, "x.json")


@pytest.mark.parametrize(("make", "needle"), [
    (lambda d: ((d / "t").write_text("x"), d / "t")[1], "is a file"),
    (lambda d: _notes(d / "t"), "notes.txt"),
])
def test_sd_table_out_is_checked_before_any_work(capsys, tmp_path, make, needle):
    refused(capsys, cli.main, ["sd-table", "--model", "tiny-sd", "--clip", "tiny", "--out", make(tmp_path)], needle)


# ----------------------------------------------------------------------------- the Python API: same messages
def test_api_calls_raise_the_same_messages(tmp_path):
    from fdunlearn.datasets import samples
    from fdunlearn.erasure import erase

    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        samples.load(tmp_path / "empty.npz")
    with pytest.raises(ValueError, match=r"lr=inf; accepted: a finite number in \(0, 1\]"):
        erase.check(erase.EraseConfig(lr=float("inf")))
    with pytest.raises(FileExistsError, match=r"notes\.txt"):
        ddpm.train(ddpm.get_recipe("mnist-ddpm"), _notes(tmp_path / "run"), progress=False)
    with pytest.raises(ValueError, match="diverged"):
        erase_folder.write(tmp_path / "w", {"a": torch.tensor([float("nan")])}, {"base_sha256": "0" * 64})
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("module, target, words", [("bench", "_run", "nothing was written"),
                                                   ("sd_table", "parse", "rerun the same command to resume")])
def test_ctrl_c_ends_with_one_line_and_status_130_not_a_traceback(module, target, words, monkeypatch, capsys):
    import importlib

    mod = importlib.import_module(f"fdunlearn.studies.{module}")

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(mod, target, interrupt)
    assert mod.main([]) == 130
    err = capsys.readouterr().err
    assert err.startswith("interrupted:") and words in err and "Traceback" not in err


def test_scratch_folders_refuse_an_existing_file_and_skip_options_not_given(tmp_path):
    from fdunlearn import validate

    (tmp_path / "f").write_text("x")
    validate.scratch_folders({"--cache-dir": None, "--weights-dir": str(tmp_path / "new")})
    with pytest.raises(ValueError, match="--cache-dir"):
        validate.scratch_folders({"--cache-dir": str(tmp_path / "f")})


def test_comma_subset_names_the_option_and_the_accepted_values():
    from fdunlearn import validate

    assert validate.comma_subset("--x", " a, b ,", ("a", "b", "c")) == ("a", "b")
    with pytest.raises(ValueError, match=r"--x 'a,z': unknown \['z'\]; accepted: a comma-separated subset of a, b"):
        validate.comma_subset("--x", "a,z", ("a", "b"))
    with pytest.raises(ValueError, match="unknown empty"):
        validate.comma_subset("--x", " , ", ("a",))
