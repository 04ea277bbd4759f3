"""Class unlearning in a DDPM: VDU and its baselines (``unlearn``), replay sets and their forget-like filter
(``replay``), the 2-D picture of lesson 03 (``toy2d``).

May import the top-level modules, ``theory``, ``datasets``, ``models`` and ``evaluation``.
"""
