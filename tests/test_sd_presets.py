"""Lesson 05's presets: the paper's concepts and anchors, prompt lists (counts, no train/eval overlap), settings,
multi-concept erasure and clear errors."""

from __future__ import annotations

import json

import pytest

from fdunlearn.erasure import erase
from fdunlearn.erasure import presets as sd_presets


@pytest.mark.parametrize("family", ["paintings", "cats", "dogs", "robots"])
def test_prompt_files_have_enough_distinct_unseen_prompts(family):
    prompts = sd_presets.load_prompts(family)
    assert len(prompts["train"]) >= sd_presets.MIN_TRAIN_PROMPTS
    assert len(prompts["eval"]) >= 20
    assert not set(prompts["train"]) & set(prompts["eval"])


@pytest.mark.parametrize("subject", sorted(sd_presets.SUBJECTS))
def test_every_subject_renders_distinct_prompts_with_its_name(subject):
    s = sd_presets.SUBJECTS[subject]
    for split in sd_presets.SPLITS:
        rendered = sd_presets.prompts(subject, split)
        assert len(set(rendered)) == len(rendered)
        assert all(s.phrase in p and "{}" not in p for p in rendered)


def test_paper_concepts_and_anchors():
    p = sd_presets.PRESETS
    assert p["van_gogh"].anchors == {"superclass": "painting", "near": "salvador_dali"}
    assert p["snoopy"].anchors["superclass"] == "dog" and p["grumpy_cat"].anchors["superclass"] == "cat"
    assert p["wall_e"].anchors["superclass"] == p["r2d2"].anchors["superclass"] == "robot"
    assert p["grumpy_cat"].anchors["near"] == "snoopy" and p["snoopy"].anchors["near"] == "grumpy_cat"
    assert p["r2d2"].anchors["near"] == "wall_e" and p["wall_e"].anchors["near"] == "r2d2"
    assert len(p["van_gogh"].surrounding) >= 3


@pytest.mark.parametrize("name", sorted(sd_presets.PRESETS))
@pytest.mark.parametrize("anchor", sd_presets.ANCHOR_KINDS)
def test_concepts_are_aligned_and_evaluation_prompts_unseen(name, anchor):
    c = sd_presets.concept(name, anchor)
    assert len(c.targets) == len(c.anchors) >= sd_presets.MIN_TRAIN_PROMPTS
    assert all(t != a for t, a in zip(c.targets, c.anchors, strict=True))
    erase.as_concepts(c)  # the eraser accepts it
    ev = sd_presets.eval_prompts(name, anchor)
    assert {"target", "anchor"} <= set(ev) and len(ev) >= 4
    seen = set(c.targets) | set(c.anchors)
    for pairs in ev.values():
        assert len(pairs) == 20 and not {p for p, _ in pairs} & seen
    target = sd_presets.SUBJECTS[sd_presets.preset(name).target]
    other = sd_presets.SUBJECTS[sd_presets.preset(name).anchors[anchor]]
    if target.family == other.family:  # the same captions on both sides
        assert [q for _, q in ev["target"]] == [p for p, _ in ev["anchor"]]
    assert all(other.phrase in q for _, q in ev["target"]) and all(target.phrase in q for _, q in ev["anchor"])


def test_van_gogh_prompts_read_as_intended():
    c = sd_presets.concept("van_gogh", "near")
    assert c.targets[0].endswith(", in the style of Van Gogh")
    assert c.anchors[0] == c.targets[0].replace("Van Gogh", "Salvador Dali")
    assert sd_presets.concept("van_gogh").anchors[0] == sd_presets.load_prompts("paintings")["train"][0]


def test_multi_concept_erasure_lists_each_preset():
    cs = sd_presets.concepts(["van_gogh", "snoopy", "r2d2"])
    assert [c.name for c in cs] == ["van_gogh->painting", "snoopy->dog", "r2d2->robot"]
    with pytest.raises(ValueError, match="twice"):
        sd_presets.concepts(["snoopy", "snoopy"])
    with pytest.raises(ValueError, match="accepted"):
        sd_presets.concepts([])


def test_settings_presets():
    ref, fast = sd_presets.settings("reference"), sd_presets.settings("fast")
    assert (ref.params, ref.steps, ref.batch_size, ref.n_anchor_images, ref.anchor_steps, ref.anchor_sampler) == \
        ("kv", 500, 4, 1000, 25, "dpm-solver")
    assert (fast.steps, fast.n_anchor_images) == (100, 64)
    assert sd_presets.settings("fast", steps=7).steps == 7
    assert list(sd_presets.DIVERGENCES) == ["MSE", "Hellinger", "chi^2", "variational Hellinger"]
    assert sd_presets.divergence("variational Hellinger") == {"divergence": "hellinger", "variational": True}


@pytest.mark.parametrize(("call", "match"), [
    (lambda: sd_presets.preset("monet"), "unknown preset 'monet'; accepted: van_gogh, snoopy"),
    (lambda: sd_presets.concept("snoopy", "far"), "unknown anchor kind 'far'; accepted: superclass, near"),
    (lambda: sd_presets.prompts("cat", "test"), "unknown split 'test'; accepted: train, eval"),
    (lambda: sd_presets.settings("slow"), "unknown settings preset 'slow'; accepted: reference, fast, ci"),
    (lambda: sd_presets.settings("fast", stepz=3), "unknown setting"),
    (lambda: sd_presets.settings("fast", steps=0), "steps=0; accepted"),
    (lambda: sd_presets.divergence("KL"), "accepted: MSE, Hellinger"),
    (lambda: sd_presets.eval_prompts("snoopy", n=0), "n=0"),
])
def test_bad_values_are_named_with_the_accepted_ones(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def _write(tmp_path, name, body):
    (tmp_path / f"{name}.json").write_text(json.dumps(body))
    return str(tmp_path)


@pytest.mark.parametrize(("body", "match"), [
    ({"kind": "instance", "train": ["a {}", "b {}"], "eval": ["a {}"]}, "both train and eval"),
    ({"kind": "instance", "train": ["a {}", "a {}"], "eval": ["c {}"]}, "appears twice"),
    ({"kind": "instance", "train": ["no slot"], "eval": ["c {}"]}, "slot"),
    ({"kind": "style", "train": [], "eval": ["c"]}, "non-empty list"),
    ({"kind": "style", "train": ["a", " "], "eval": ["c"]}, "empty or not text"),
])
def test_prompt_file_errors(tmp_path, body, match):
    with pytest.raises(ValueError, match=match):
        sd_presets.load_prompts("bad", _write(tmp_path, "bad", body))


def test_missing_prompt_file_lists_the_families(tmp_path):
    folder = _write(tmp_path, "only", {"kind": "style", "train": ["a"], "eval": ["b"]})
    with pytest.raises(FileNotFoundError, match="accepted families: only"):
        sd_presets.load_prompts("other", folder)
