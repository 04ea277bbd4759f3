"""Scores: FID/KID and classifier metrics (``metrics``), CLIP scores on Stable Diffusion (``clip``), paired
statistics over seeds (``paired``), markdown tables (``tables``).

May import the top-level modules, ``datasets`` and ``models``.
"""
