"""How README.md's generated blocks write numbers: digit names, percentages, mean ± sd over seeds, bar verdicts."""

from __future__ import annotations

NAMES = {0: "zeros", 1: "ones", 2: "twos", 3: "threes", 4: "fours", 5: "fives", 6: "sixes", 7: "sevens",
         8: "eights", 9: "nines"}
FOCUS = (7, 3)  # the digits with every seed; the other eight follow
MINUS = "\u2212"


def and_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f}"


def signed(x: float) -> str:
    """A relative change in whole percent, with its sign (a typographic minus)."""
    return f"{round(100 * x):+d}%".replace("-", MINUS)


def pm(stat: tuple[float, float], n_seeds: int, digits: int = 1, scale: float = 100.0) -> str:
    return f"{scale * stat[0]:.{digits}f}" + (f" ± {scale * stat[1]:.{digits}f}" if n_seeds > 1 else "")


def pm_signed(s: tuple[float, float], n_seeds: int) -> str:
    return (f"{round(100 * s[0]):+d} ± {100 * s[1]:.0f}%" if n_seeds > 1 else signed(s[0])).replace("-", MINUS)


def met(ok: bool) -> str:
    return "met" if ok else "not met"
