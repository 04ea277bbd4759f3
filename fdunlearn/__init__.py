"""fdunlearn: the helper package behind the machine-unlearning-in-diffusion-models course."""

from fdunlearn import config

__version__ = "0.1.0"

__all__ = ["__version__", "config"]
