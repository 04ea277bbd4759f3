"""The maths, independent of any model: f-divergences and their conjugates (``divergences``), the Gaussian reverse
step of a DDPM (``schedule``: mean, variance, kappa_t), the closed-form unlearning losses and the gap measured on a
real DDPM (``losses``), the variational f-GAN bound and its critic (``variational``).

Imports nothing of ``fdunlearn``: only torch and numpy.
"""
