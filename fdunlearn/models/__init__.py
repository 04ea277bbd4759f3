"""The generative and scoring models: the registry of shipped checkpoints (``registry``), the DDPM (``ddpm``), the
digit/CIFAR classifier (``classifier``), the small text-to-image model MiniSD (``minisd``), the weight-free Stable
Diffusion-size UNet (``tiny_sd``) and the real Stable Diffusion loader (``sd``).

May import the top-level modules, ``theory`` and ``datasets``.
"""
