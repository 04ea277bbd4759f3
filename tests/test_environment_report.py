from fdunlearn.lessons import environment


def test_report_lists_versions_device_sources_and_checkpoints():
    v = environment.versions()
    assert v["torch"].startswith("2.14.1") and "MISSING" not in v.values()
    assert environment.hardware()["device"] in {"cpu", "cuda"}
    assert environment.data_sources()["mnist"].startswith(("packaged 5,000-digit subset", "full torchvision"))
    assert environment.checkpoints()["mnist-ddpm"] == "present at data/checkpoints/mnist-ddpm"
