"""The maths, independent of any model: f-divergences (``divergences``), Gaussian reverse-step maths, the
closed-form losses and the variational bound (``losses``).

Imports nothing of ``fdunlearn``: only torch and numpy.
"""
