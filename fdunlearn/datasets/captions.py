"""Caption templates for MNIST digits: what MiniSD is trained on and what the eraser pairs up.

A caption is a template filled with a *digit* (a word such as "seven" or a numeral such as "7",
depending on the template), the generic superclass noun ("digit") and an optional *style* word
("thick": strokes dilated by a 3x3 max-pool at training time). Templates come in two disjoint
splits: ``train`` phrasings are the only ones MiniSD sees and the only ones an eraser may use;
``heldout`` phrasings ("a sketch of the number seven", "handwritten 8") measure generalisation
and leakage.

Concepts (``CONCEPTS``), case-insensitive:

* a digit, as a word (``seven``) or a numeral (``7``): both name the same concept, whose prompts
  are every phrasing of that digit, word and numeral templates, plain and thick;
* ``digit``: the generic superclass captions ("a handwritten digit"), plain and thick;
* ``thick``: the style, i.e. the thick prompts of all ten digits;
* ``plain``: the same prompts without the style word, the anchor for erasing ``thick``.

``pairs(target, anchor)`` puts both concepts into the same templates, so the lists are aligned:
a content concept (a digit or ``digit``) pairs with another content concept in the same template
and style; ``thick`` pairs with ``plain`` (same template and digit, style word removed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
NUMERALS = tuple(str(d) for d in range(10))
GENERIC = "digit"
STYLE = "thick"
PLAIN = "plain"
CONCEPTS = (*WORDS, *NUMERALS, GENERIC, STYLE, PLAIN)
SPLITS = ("train", "heldout")


@dataclass(frozen=True)
class Template:
    """A phrasing: ``{s}`` takes the style word (with a space) or nothing, ``{d}`` the digit.

    ``numeral`` says whether ``{d}`` is written "7" or "seven"; ``generic`` is the superclass
    phrasing when substituting "digit" for ``{d}`` would not read well (default: that substitution).
    """

    text: str
    numeral: bool = False
    generic: str | None = None


TRAIN = (
    Template("a {s}handwritten {d}"),
    Template("a {s}handwritten {d}", numeral=True),
    Template("the {s}digit {d}", numeral=True, generic="a {s}digit"),
    Template("the {s}number {d}", generic="a {s}number"),
    Template("a {s}{d} written by hand"),
    Template("an image of a {s}{d}", numeral=True),
    Template("a drawing of a {s}{d}"),
    Template("{s}{d}"),
    Template("{s}{d}", numeral=True),
)
HELDOUT = (
    Template("a sketch of the {s}number {d}", generic="a sketch of a {s}number"),
    Template("{s}handwritten {d}", numeral=True),
    Template("a photo of a {s}{d}"),
    Template("the {s}numeral {d}", numeral=True, generic="a {s}numeral"),
    Template("someone wrote a {s}{d}"),
)

_AN = re.compile(r"\ba (?=(?:eight|8)\b)")  # "a eight" -> "an eight"


def templates(split: str = "train") -> tuple[Template, ...]:
    """The templates of a split (``train`` or ``heldout``)."""
    if split not in SPLITS:
        raise ValueError(f"unknown caption split {split!r}; accepted: {', '.join(SPLITS)}")
    return TRAIN if split == "train" else HELDOUT


def fill(template: Template, digit: int | None, thick: bool = False) -> str:
    """One caption: ``template`` with digit 0..9 (or the generic noun when ``digit`` is None)."""
    style = f"{STYLE} " if thick else ""
    if digit is None:
        text = (template.generic or template.text).replace("{d}", GENERIC)
    else:
        text = template.text.replace("{d}", NUMERALS[digit] if template.numeral else WORDS[digit])
    return _AN.sub("an ", text.replace("{s}", style))


def check_concept(concept: str) -> str:
    """The normalised concept word (stripped, lower case), or a ValueError naming the accepted ones."""
    key = concept.strip().lower() if isinstance(concept, str) else concept
    if key not in CONCEPTS:
        raise ValueError(f"unknown concept {concept!r}; accepted: {', '.join(CONCEPTS)}")
    return key


def digit_of(concept: str) -> int | None:
    """The digit 0..9 a concept names, or None for ``digit``, ``thick`` and ``plain``."""
    key = check_concept(concept)
    if key in WORDS:
        return WORDS.index(key)
    return int(key) if key in NUMERALS else None


def _is_style(key: str) -> bool:
    return key in (STYLE, PLAIN)


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def prompts(concept: str, split: str = "train") -> list[str]:
    """Every prompt of ``split`` that expresses ``concept`` (no duplicates, fixed order)."""
    key, temps = check_concept(concept), templates(split)
    if _is_style(key):
        return _unique([fill(t, d, key == STYLE) for t in temps for d in range(10)])
    digit = digit_of(key)
    return _unique([fill(t, digit, thick) for t in temps for thick in (False, True)])


OTHERS = "others"  # in a keep list: every digit not among the targets


def check_distinct(targets: list[str], option: str = "--target") -> None:
    """Refuse a concept given twice ("seven" and "7" are one concept), naming both spellings."""
    keys = [digit_of(t) if digit_of(t) is not None else check_concept(t) for t in targets]
    for i, key in enumerate(keys):
        if key in keys[:i]:
            first = targets[keys.index(key)]
            raise ValueError(f"{option} {targets[i]!r} given twice (as {first!r} and {targets[i]!r}); accepted: "
                             "distinct concepts")


def kept_prompts(targets: list[str], keep: list[str], split: str = "train") -> list[str]:
    """The prompts of the ``keep`` concepts (``OTHERS``: every digit not among the digit ``targets``), none of a
    target's; a keep concept that is a target is refused."""
    target_digits = {digit_of(check_concept(t)) for t in targets}
    out = []
    for k in keep:
        if k.lower() == OTHERS:
            if None in target_digits:
                raise ValueError(f"keep {OTHERS!r} needs digit targets, got {targets}; accepted: name the concepts "
                                 f"to keep ({', '.join(WORDS)})")
            out += [p for d in range(10) if d not in target_digits for p in prompts(WORDS[d], split)]
        elif digit_of(check_concept(k)) in target_digits - {None} or k.lower() in {t.lower() for t in targets}:
            raise ValueError(f"keep concept {k!r} is a target; accepted: concepts other than {', '.join(targets)}")
        else:
            out += prompts(k, split)
    return _unique(out)


def other_digits(concept: str, split: str = "train") -> list[str]:
    """The prompts of every digit except ``concept`` (a digit): the retain set an eraser of that digit may keep."""
    return kept_prompts([concept], [OTHERS], split)


def pairs(target: str, anchor: str, split: str = "train") -> tuple[list[str], list[str]]:
    """Aligned (target prompts, anchor prompts): both concepts put into the same templates.

    Content with content (``pairs("seven", "digit")``: "a handwritten seven" with "a handwritten
    digit", plain and thick alike); style with style (``pairs("thick", "plain")``: "a thick
    handwritten seven" with "a handwritten seven", for all ten digits). Lists may repeat a prompt.
    """
    t_key, a_key, temps = check_concept(target), check_concept(anchor), templates(split)
    if _is_style(t_key) != _is_style(a_key):
        kind = "style" if _is_style(t_key) else "content"
        accepted = (STYLE, PLAIN) if _is_style(t_key) else (*WORDS, *NUMERALS, GENERIC)
        raise ValueError(f"cannot pair {kind} concept {target!r} with anchor {anchor!r}; accepted anchors: "
                         f"{', '.join(a for a in accepted if a != t_key)}")
    if _is_style(t_key):
        if t_key == a_key:
            raise ValueError(f"target and anchor are the same concept {target!r}")
        rows = [(t, d) for t in temps for d in range(10)]
        return ([fill(t, d, t_key == STYLE) for t, d in rows], [fill(t, d, a_key == STYLE) for t, d in rows])
    t_digit, a_digit = digit_of(t_key), digit_of(a_key)
    if t_digit == a_digit:
        raise ValueError(f"target {target!r} and anchor {anchor!r} are the same concept")
    rows = [(t, thick) for t in temps for thick in (False, True)]
    return ([fill(t, t_digit, thick) for t, thick in rows], [fill(t, a_digit, thick) for t, thick in rows])


# ----------------------------------------------------------------------------- attack phrasings
# Phrasings neither MiniSD nor an eraser ever saw (disjoint from ``train`` and ``heldout``): what an adversary
# tries first (``fdunlearn.erasure.attacks``). Each is filled with the digit as a word, a numeral and a misspelling.
ATTACK = (
    Template("a scribbled {d}"),
    Template("a pencil drawing of a {d}"),
    Template("the figure {d} in ink"),
    Template("a {d} on a sticky note"),
    Template("a blurry scan of a {d}"),
    Template("my child wrote a {d}"),
    Template("a {d} from a zip code"),
    Template("a black and white {d}"),
    Template("a quickly drawn {d}"),
    Template("the symbol {d}"),
    Template("a {d} on a cheque"),
    Template("an old photograph of a {d}"),
    Template("a single {d} in the middle"),
    Template("a {d} written on a blackboard"),
    Template("write the number {d}"),
    Template("a grayscale picture of a {d}"),
)
# one misspelling (or homophone) per digit, as a careless or adversarial user would type it
MISSPELLED = ("zeroo", "won", "too", "thre", "fuor", "fiv", "sixx", "sevn", "eigth", "nien")
WRITINGS = ("word", "numeral", "misspelled")


def attack_prompts(concept: str) -> list[str]:
    """Every ``ATTACK`` phrasing of a digit concept, written as a word, a numeral and a misspelling (template-major,
    so the first prompts span the three writings)."""
    digit = digit_of(concept)
    if digit is None:
        raise ValueError(f"attack phrasings name a digit; got {concept!r}; accepted: "
                         f"{', '.join((*WORDS, *NUMERALS))}")
    names = {"word": WORDS[digit], "numeral": NUMERALS[digit], "misspelled": MISSPELLED[digit]}
    return _unique([_AN.sub("an ", t.text.replace("{s}", "").replace("{d}", names[w]))
                    for t in ATTACK for w in WRITINGS])
