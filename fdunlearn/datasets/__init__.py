"""Data the models learn from and write: image datasets in model space (``images``), caption vocabulary and
concepts (``captions``), ``.npz`` sample files (``samples``).

May import ``fdunlearn.config`` and ``fdunlearn.files`` only.
"""
