"""Data the models learn from and write: image datasets in model space, with the dilation that makes strokes thick
(``images``), the caption vocabulary and concepts (``captions``), ``.npz`` sample files and the image grids stored
in results rows (``samples``).

May import the top-level ``config``, ``files`` and ``validate`` only.
"""
