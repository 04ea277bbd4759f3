"""Concept erasure in a text-to-image model, one pass: concepts and options (``erase``) -> anchor images
(``anchors``) -> objective and optimizer step (``step``) -> trainable weights (``weights``) -> saved folder
(``folder``) and resumable state (``state``); the Stable Diffusion presets (``presets``); the attacks on an erased
model (``attacks``).

May import the top-level modules, ``theory``, ``datasets``, ``models`` and ``evaluation``.
"""
