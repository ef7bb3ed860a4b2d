"""The install files: users get segkit without the test tools, developers get both, one set of versions."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

REPO = Path(__file__).resolve().parents[1]


def _env(name: str) -> tuple[dict[str, str], list[str]]:
    """(conda package -> version spec, pip lines) of an environment file."""
    data = yaml.safe_load((REPO / name).read_text(encoding="utf-8"))
    conda, pip = {}, []
    for dep in data["dependencies"]:
        if isinstance(dep, dict):
            pip += dep["pip"]
        else:
            m = re.match(r"^([A-Za-z0-9_.-]+)(.*)$", dep)
            conda[m.group(1)] = m.group(2)
    return conda, pip


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_users_get_no_dev_tools_and_developers_get_them():
    user_conda, user_pip = _env("environment.yml")
    dev_conda, dev_pip = _env("environment-dev.yml")
    assert user_pip == ["-e ."] and dev_pip == ["-e .[dev]"]
    assert user_conda == dev_conda  # the same runtime; dev adds only the [dev] extra
    dev_tools = {re.split(r"[<>=]", d)[0] for d in _pyproject()["project"]["optional-dependencies"]["dev"]}
    assert {"pytest", "playwright", "onnx"} <= dev_tools
    assert not dev_tools & set(user_conda), "a test tool is in the users' environment"


def test_environment_versions_are_the_pyproject_versions():
    project = _pyproject()["project"]
    spec = {re.match(r"^([A-Za-z0-9_.-]+)", d).group(1): d[len(re.match(r"^([A-Za-z0-9_.-]+)", d).group(1)):]
            for d in project["dependencies"]}
    conda, _ = _env("environment.yml")
    for name, version in conda.items():
        if name in ("python", "pip"):
            continue
        assert spec.get(name) == version, f"{name}: environment.yml {version!r}, pyproject.toml {spec.get(name)!r}"
    assert conda["python"].startswith(">=3.10") and project["requires-python"] == ">=3.10"


def test_the_cuda_step_is_documented_where_users_look():
    env = (REPO / "environment.yml").read_text(encoding="utf-8")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for text in (env, readme):
        assert "pip uninstall -y torch torchvision" in text and "--index-url https://download.pytorch.org/whl/cu" in text
    assert "segkit info" in readme and "environment-dev.yml" in readme
