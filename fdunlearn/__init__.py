"""fdunlearn: the helper package behind the machine-unlearning-in-diffusion-models course.

The folders are the architecture; each imports only the ones above it in this list (its docstring says which):

    config, files, validate   modes, paths, devices, seeds; atomic writes and records; argument checks, the CLI's
                              one error path (top level, import nothing else of ours)
    theory/                   f-divergences, reverse-step maths, closed-form losses, variational bound
    datasets/                 image datasets, captions, sample files
    models/                   shipped-model registry, DDPM, classifier, MiniSD, Stable Diffusion, their training kit
    evaluation/               classifier and CLIP metrics, paired statistics, tables
    unlearning/, erasure/     VDU and its baselines; the concept eraser and its attacks
    studies/                  each precomputed study behind data/results/, over one results module
    lessons/                  what only the notebooks use: plots, widgets, views, environment report, exercises
    cli, course/              ``python -m fdunlearn COMMAND``; ``python -m fdunlearn.course run|test|reproduce``
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys

from fdunlearn import config

__version__ = "0.1.0"

__all__ = ["COMMANDS", "__version__", "config"]

# The commands recorded in data/results, README, data/claims.json and the lessons' checked outputs name the modules
# by their first, flat names (``python -m fdunlearn.vdu_study ...``). They keep that spelling: ``python -m
# fdunlearn.NAME`` runs the module named here (a fresh copy as ``__main__``, exactly as ``-m`` always does).
COMMANDS = {
    "attack_study": "studies.attack_study",
    "bench": "studies.bench",
    "data": "datasets.images",
    "erase_defaults": "studies.erase_defaults",
    "erase_regimes": "studies.erase_regimes",
    "erase_study": "studies.erase_study",
    "eta_study": "studies.eta_study",
    "readme": "course.readme",
    "run_notebooks": "course.run_notebooks",
    "sd_table": "studies.sd_table",
    "ship": "course.ship",
    "toy2d": "unlearning.toy2d",
    "vdu_digits": "studies.vdu_digits",
    "vdu_study": "studies.vdu_study",
}


class _CommandFinder(importlib.abc.MetaPathFinder):
    """Finds ``fdunlearn.NAME`` for the recorded command names in ``COMMANDS``, and nothing else. First in
    ``sys.meta_path``, so that no other finder (an editable install's of an older checkout) answers for them."""

    def find_spec(self, name, path=None, target=None):
        parent, _, short = name.rpartition(".")
        if parent != __name__ or short not in COMMANDS:
            return None
        real = importlib.util.find_spec(f"{__name__}.{COMMANDS[short]}")
        return importlib.util.spec_from_file_location(name, real.origin)


if not any(isinstance(f, _CommandFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _CommandFinder())
