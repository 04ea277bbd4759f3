"""pyproject.toml and environment.yml must pin the same packages at the same versions."""

import re
import tomllib

from fdunlearn import config


def _pyproject_pins() -> dict[str, str]:
    p = tomllib.loads((config.REPO_ROOT / "pyproject.toml").read_text())
    deps = p["project"]["dependencies"] + p["project"]["optional-dependencies"]["test"]
    return dict(d.split("==") for d in deps)


def _environment_pins() -> dict[str, str]:
    text = (config.REPO_ROOT / "environment.yml").read_text()
    return dict(re.findall(r"^\s+- ([A-Za-z0-9_.\-]+)==([^\s]+)\s*$", text, flags=re.M))


def test_every_dependency_is_pinned_exactly():
    p = tomllib.loads((config.REPO_ROOT / "pyproject.toml").read_text())
    for dep in p["project"]["dependencies"] + p["project"]["optional-dependencies"]["test"]:
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][^\s,;]*", dep), dep


def test_environment_yml_matches_pyproject():
    assert _environment_pins() == _pyproject_pins()
    assert "python=3.11" in (config.REPO_ROOT / "environment.yml").read_text()


def test_requires_python_admits_3_11_to_3_13():
    from packaging.specifiers import SpecifierSet

    spec = SpecifierSet(tomllib.loads((config.REPO_ROOT / "pyproject.toml").read_text())["project"]["requires-python"])
    assert all(v in spec for v in ("3.11.7", "3.12.3", "3.13.1")), spec
    assert "3.10.14" not in spec, spec
