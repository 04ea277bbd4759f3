import matplotlib
import torch

matplotlib.use("Agg")

from fdunlearn import widgets


def test_scrubber_redraws_on_slider_change():
    frames = [torch.full((4, 1, 32, 32), v) for v in (-1.0, 0.0, 1.0)]
    box = widgets.scrubber(frames, ["a", "b", "c"], nrow=2)
    slider, out = box.children
    assert (slider.min, slider.max) == (0, 2)
    slider.value = 2  # headless: the observer still fires and redraws into the Output
    assert slider.value == 2 and out is not None


def test_chooser_renders_every_choice():
    seen = []
    box = widgets.chooser({"divergence": ["kl", "hellinger"], "steps": [10, 20]},
                          lambda divergence, steps: seen.append((divergence, steps)))
    controls = box.children[0].children
    controls[0].value = "hellinger"
    controls[1].value = 20
    assert seen == [("kl", 10), ("hellinger", 10), ("hellinger", 20)]
