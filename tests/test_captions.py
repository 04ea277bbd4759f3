import re

import pytest

from fdunlearn.datasets import captions


def test_a_digit_is_the_same_concept_as_word_or_numeral():
    sevens = captions.prompts("seven")
    assert captions.prompts("7") == sevens == captions.prompts(" Seven ")
    for p in ("a handwritten seven", "the digit 7", "a thick handwritten seven", "seven", "7"):
        assert p in sevens
    assert all(re.search(r"\b(seven|7)\b", p) for p in sevens)
    others = set(captions.WORDS + captions.NUMERALS) - {"seven", "7"}
    assert not any(set(p.split()) & others for p in sevens)


def test_generic_style_and_plain_prompts():
    generic = captions.prompts("digit")
    assert "a handwritten digit" in generic and "a thick handwritten digit" in generic
    assert not any(set(p.split()) & set(captions.WORDS + captions.NUMERALS) for p in generic)
    thick, plain = captions.prompts("thick"), captions.prompts("plain")
    assert all("thick" in p.split() for p in thick) and not any("thick" in p for p in plain)
    assert len(thick) == len(plain) == 10 * len(captions.TRAIN)
    assert "a thick handwritten seven" in thick and "a handwritten seven" in plain


def test_heldout_phrasings_never_appear_in_training():
    heldout = captions.prompts("seven", "heldout")
    assert "a sketch of the number seven" in heldout and "handwritten 8" in captions.prompts("8", "heldout")
    for concept in captions.CONCEPTS:
        assert not set(captions.prompts(concept, "train")) & set(captions.prompts(concept, "heldout")), concept
    train_texts = {t.text for t in captions.TRAIN}
    assert not any(t.text in train_texts for t in captions.HELDOUT)


def test_articles_read_correctly():
    every = [p for s in captions.SPLITS for c in captions.CONCEPTS for p in captions.prompts(c, s)]
    assert not [p for p in every if re.search(r"\ba (eight|8)\b", p)]
    assert "a seven written by hand" in every and "an eight written by hand" in every


def test_content_pairs_are_aligned_template_by_template():
    target, anchor = captions.pairs("seven", "digit")
    assert len(target) == len(anchor) == 2 * len(captions.TRAIN)
    assert ("a handwritten seven", "a handwritten digit") in zip(target, anchor, strict=True)
    assert ("a thick handwritten seven", "a thick handwritten digit") in zip(target, anchor, strict=True)
    assert ("the digit 7", "a digit") in zip(target, anchor, strict=True)
    assert set(target) == set(captions.prompts("seven"))
    target, anchor = captions.pairs("seven", "one", "heldout")
    swap = {"seven": "one", "7": "1"}
    assert [" ".join(swap.get(w, w) for w in t.split()) for t in target] == anchor


def test_style_pairs_drop_only_the_style_word():
    target, anchor = captions.pairs("thick", "plain")
    def article(p: str) -> str:
        return re.sub(r"\ban (?=eight|8)", "a ", p)

    assert [article(t.replace("thick ", "")) for t in target] == [article(a) for a in anchor]
    assert ("a thick eight written by hand", "an eight written by hand") in zip(target, anchor, strict=True)
    assert set(target) == set(captions.prompts("thick")) and set(anchor) == set(captions.prompts("plain"))


def test_bad_concepts_splits_and_pairs_name_the_problem():
    with pytest.raises(ValueError, match=r"'seventeen'.*seven.*thick"):
        captions.prompts("seventeen")
    with pytest.raises(ValueError, match=r"'test'.*train, heldout"):
        captions.prompts("seven", "test")
    with pytest.raises(ValueError, match=r"'thick'.*anchor 'seven'.*plain"):
        captions.pairs("thick", "seven")
    with pytest.raises(ValueError, match=r"'seven'.*anchor 'plain'.*digit"):
        captions.pairs("seven", "plain")
    with pytest.raises(ValueError, match="same concept"):
        captions.pairs("seven", "7")
    with pytest.raises(ValueError, match="'ten'"):
        captions.pairs("ten", "digit")


def test_kept_prompts_are_the_other_digits_or_the_named_concepts():
    others = captions.kept_prompts(["seven"], [captions.OTHERS])
    assert others == captions.other_digits("7") and len(others) == 9 * len(captions.prompts("nine"))
    assert not any("seven" in p or re.search(r"\b7\b", p) for p in others)
    assert set(captions.prompts("nine")) <= set(others)
    assert captions.kept_prompts(["seven", "one"], ["others"]) == [p for p in others if p not in
                                                                    captions.prompts("one")]
    assert captions.kept_prompts(["thick"], ["nine"]) == captions.prompts("nine")
    with pytest.raises(ValueError, match=r"keep concept '7' is a target; accepted: concepts other than seven"):
        captions.kept_prompts(["seven"], ["7"])
    with pytest.raises(ValueError, match=r"keep 'others' needs digit targets.*accepted: name the concepts"):
        captions.kept_prompts(["thick"], ["others"])
    with pytest.raises(ValueError, match=r"unknown concept 'unicorn'"):
        captions.kept_prompts(["seven"], ["unicorn"])
