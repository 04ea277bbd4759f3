import base64
import json
import re

import pytest
import torch

from fdunlearn import cli
from fdunlearn import files as io
from fdunlearn.datasets import captions
from fdunlearn.erasure import attacks as attack
from fdunlearn.models import minisd
from fdunlearn.studies import attack_study


@pytest.fixture(scope="module")
def pipe(fast_minisd):
    return minisd.load_pipeline(fast_minisd)


def _weights(pipe) -> dict[str, torch.Tensor]:
    return {f"{part}.{n}": p.detach().clone() for part in ("unet", "text_encoder", "vae")
            for n, p in getattr(pipe, part).named_parameters()}


# ----------------------------------------------------------------------------- the paraphrase set
def test_attack_phrasings_are_disjoint_from_train_and_heldout():
    seen = {p for s in captions.SPLITS for c in captions.CONCEPTS for p in captions.prompts(c, s)}
    texts = {t.text for t in (*captions.TRAIN, *captions.HELDOUT)}
    assert not {t.text for t in captions.ATTACK} & texts
    for digit in range(10):
        prompts = captions.attack_prompts(captions.WORDS[digit])
        assert prompts == captions.attack_prompts(captions.NUMERALS[digit])
        assert not set(prompts) & seen, digit
        assert len(prompts) == len(captions.ATTACK) * len(captions.WRITINGS) > len(captions.prompts("seven"))
        names = {captions.WORDS[digit], captions.NUMERALS[digit], captions.MISSPELLED[digit]}
        assert all(set(re.findall(r"\w+", p)) & names for p in prompts)
    assert "a scribbled sevn" in captions.attack_prompts("seven")
    assert not set(captions.MISSPELLED) & set(captions.WORDS)


def test_attack_phrasings_fit_the_token_budget_and_refuse_non_digits(pipe):
    every = [p for d in captions.WORDS for p in captions.attack_prompts(d)]
    assert max(len(ids) for ids in pipe.tokenizer(every).input_ids) <= minisd.MAX_LENGTH
    with pytest.raises(ValueError, match="accepted: zero, one"):
        captions.attack_prompts("thick")


# ----------------------------------------------------------------------------- bad input
def test_api_checks_name_the_value_and_the_accepted_ones():
    with pytest.raises(ValueError, match="'relearn'; accepted: paraphrase, inversion, prompt-opt"):
        attack.check_method("relearn")
    with pytest.raises(ValueError, match=r"'digit'.*accepted: zero, one, .*, 9"):
        attack.check_target("digit")
    with pytest.raises(ValueError, match="budget"):
        attack.check_budget("inversion", 0)
    assert attack.check_target(" Seven ") == attack.check_target("7") == 7
    assert attack.check_budget("inversion", None) == attack.sizes().default_budget("inversion")


@pytest.mark.parametrize(("args", "message"), [
    (["--method", "relearn"], r"--method: invalid choice: 'relearn' \(choose from 'paraphrase', 'inversion', "
                              r"'prompt-opt'\)"),
    (["--method", "inversion", "--budget", "0"], r"--budget: got '0'; accepted: a positive integer"),
    (["--method", "inversion", "--model", "no-such-model"], r"unknown model 'no-such-model'.*minisd"),
    (["--method", "paraphrase", "--target", "thick"], r"unknown attack target 'thick'.*accepted: zero"),
    (["--method", "paraphrase", "--model", "mnist-ddpm"], r"'ddpm' folder; `attack` accepts: minisd"),
])
def test_cli_bad_input_exits_non_zero_naming_the_value(tmp_path, capsys, args, message):
    base = {"--model": "minisd", "--target": "seven", "--seed": "0", "--out": str(tmp_path / "a.json")}
    given = dict(zip(args[::2], args[1::2], strict=True))
    argv = ["attack"] + [x for k, v in (base | given).items() for x in (k, v)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert "Traceback" not in err and not (tmp_path / "a.json").exists()


# ----------------------------------------------------------------------------- the attacks
def test_soft_prompt_with_a_word_vector_is_the_pipelines_own_encoding(pipe):
    ids = attack.token_ids(pipe, ["a handwritten [MASK]", "[MASK] [MASK] seven"])
    vectors = torch.stack([attack.word_vector(pipe, "seven"), attack.word_vector(pipe, "a")])
    ours = attack.encode_soft(pipe, ids[:1], vectors[:1])
    theirs = pipe.encode_prompt(["a handwritten seven"], pipe.device, 1, False)[0]
    assert torch.allclose(ours, theirs, atol=1e-6)
    two = attack.encode_soft(pipe, ids[1:], vectors)
    assert torch.allclose(two, pipe.encode_prompt(["seven a seven"], pipe.device, 1, False)[0], atol=1e-6)


@pytest.mark.parametrize("method", ["inversion", "prompt-opt"])
def test_optimising_attacks_learn_embeddings_and_leave_the_model_alone(pipe, one_thread, method):
    before = _weights(pipe)
    result = attack.attack(pipe, "seven", method, seed=0, budget=3)
    init = (attack.word_vector(pipe, attack.INIT_WORD)[None] if method == "inversion" else None)
    assert result.vectors is not None and torch.isfinite(result.vectors).all()
    if init is not None:
        assert not torch.allclose(result.vectors, init) and result.record["embedding_change"] > 0
    after = _weights(pipe)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in pipe.unet.parameters())
    assert len(result.record["curve"]) == 3


def test_the_same_seed_gives_the_same_attack(pipe, one_thread):
    a = attack.attack(pipe, "7", "inversion", seed=1, budget=2)
    b = attack.attack(pipe, "7", "inversion", seed=1, budget=2)
    assert torch.equal(a.vectors, b.vectors) and torch.allclose(a.images, b.images, atol=1e-5)


def test_target_images_are_real_digits_of_the_target():
    from fdunlearn.datasets import images as data

    images = attack.target_images(3, 5, seed=0)
    train = data.load("mnist", "train", verbose=False)
    assert images.shape == (5, 1, 32, 32)
    flat = train.images.flatten(1)
    assert all(train.labels[(flat == im.flatten()).all(1)].eq(3).any() for im in images)


def test_paraphrase_scores_words_and_numerals_and_reports_misspellings(fast_minisd, one_thread):
    pipe = attack.load(str(fast_minisd))
    rec = attack.attack(pipe, "seven", "paraphrase", seed=0, budget=3).record
    assert [captions.WRITINGS[i % 3] for i in range(3)] == ["word", "numeral", "misspelled"]
    assert set(rec["by_writing"]) == {"word", "numeral", "misspelled"} and rec["scored_writings"] == ["word", "numeral"]
    shares = list(rec["per_prompt"].values())
    assert rec["success_rate"] == pytest.approx((shares[0] + shares[1]) / 2)  # the misspelling is not counted
    assert rec["n_samples"] == attack.sizes().n_samples


@pytest.mark.parametrize("method", attack.METHODS)
def test_cli_writes_a_scored_record(fast_minisd, tmp_path, capsys, one_thread, method):
    out = tmp_path / "attack.json"
    argv = ["attack", "--model", str(fast_minisd), "--target", "seven", "--method", method, "--seed", "0",
            "--out", str(out), "--budget", "2"]
    assert cli.main(argv) == 0
    rec = json.loads(out.read_text())
    assert rec["kind"] == "attack" and rec["method"] == method and rec["digit"] == 7 and rec["budget"] == 2
    assert 0 <= rec["success_rate"] <= 1 and rec["n_samples"] == attack.sizes().n_samples
    assert rec["seconds"] >= rec["optimise_seconds"] >= 0 and rec["settings"]["ddim_steps"] >= 1
    assert base64.b64decode(rec["grid_png"]).startswith(b"\x89PNG")
    if method == "paraphrase":
        assert rec["prompts"] == captions.attack_prompts("seven")[:2]
        assert set(rec["by_writing"]) == {"word", "numeral"}
    if method == "inversion":
        assert "real MNIST" in rec["image_source"]
    assert "success rate" in capsys.readouterr().out
    assert cli.main(argv) == 2 and "already exists" in capsys.readouterr().err  # never silently replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["attack.json"]


# ----------------------------------------------------------------------------- the study
def test_fast_study_runs_resumes_and_summarises(fast_minisd, tmp_path, one_thread):
    out = tmp_path / "attacks.json"
    attack_study.study(out, str(fast_minisd), weights_dir=tmp_path / "w")
    rows = io.read_json(out)["rows"]
    b = attack_study.budget()
    attacks = [r for r in rows if r["phase"] == "attack"]
    assert len(attacks) == len(b.seeds) * len(b.variants) * len(b.methods)
    mse = [r for r in attacks if r["variant"] == "mse"]
    assert all(r["success_before"] is not None and r["retained_acc"] is not None for r in mse)
    assert len(list((tmp_path / "w").glob("mse-seed0-*.safetensors"))) == 1
    attack_study.study(out, str(fast_minisd), weights_dir=tmp_path / "w")  # resumed: nothing new
    assert io.read_json(out)["rows"] == rows
    summary = attack_study.summarise(rows)
    assert set(summary) == {(v, m) for v in b.variants for m in b.methods}
    table = attack_study.format_table(summary)
    assert "MSE (Concept Ablation)" in table and "prompt-opt" in table
    assert set(attack_study.strong_erasers(summary, rows)) <= {"mse"}


def test_study_command_refuses_bad_subsets(tmp_path, capsys):
    assert attack_study.main(["--out", str(tmp_path / "a.json"), "--variants", "mse,ga"]) == 2
    assert "'ga'" in capsys.readouterr().err
    assert attack_study.main(["--out", str(tmp_path / "a.json"), "--methods", "relearn"]) == 2
    assert "accepted: a comma-separated subset of paraphrase, inversion, prompt-opt" in capsys.readouterr().err


def test_full_study_estimate_is_stated(capsys):
    with pytest.raises(SystemExit):
        attack_study.main(["--help"])
    assert "ESTIMATE" in capsys.readouterr().out
    assert 10 * 60 < attack_study.estimate_seconds(attack_study.BUDGETS["full"]) < 4 * 3600
