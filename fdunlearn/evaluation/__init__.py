"""Scores: FID/KID and classifier metrics (``metrics``), CLIP scores on Stable Diffusion (``clip``), MiniSD's
prompt-following quality and style measure (``minisd_eval``), paired statistics over seeds (``paired``), Markdown
tables (``tables``).

May import the top-level modules, ``theory``, ``datasets`` and ``models``.
"""
