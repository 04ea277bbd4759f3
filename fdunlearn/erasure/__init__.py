"""Concept erasure in a text-to-image model, read in one pass: what to erase and with which settings
(``concepts``) -> anchor images (``anchors``) -> objective and optimizer step (``step``) over the trainable weights
(``weights``) -> the saved folder (``folder``) and the resumable state (``state``); ``erase`` runs the loop and is
the package's face. Also: the Stable Diffusion presets (``presets``) and the attacks on an erased model
(``attacks``).

May import the top-level modules, ``theory``, ``datasets``, ``models`` and ``evaluation``.
"""
