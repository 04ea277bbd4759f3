"""The generative and scoring models: the registry of shipped checkpoints (``registry``), the DDPM (``ddpm``), the
digit/CIFAR classifier (``classifier``), the small text-to-image model MiniSD (``minisd``, its text side
``minisd_text``), the weight-free Stable Diffusion-size UNet (``tiny_sd``), the real Stable Diffusion loader
(``sd``), and the one training toolkit they share (``training``: resumable optimizer and RNG state, warm-up + cosine
learning rate, EMA).

May import the top-level modules, ``theory`` and ``datasets``.
"""
