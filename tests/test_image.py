"""The image and its pins agree: the default base image's CUDA is the default torch wheel's CUDA, the lock
satisfies pyproject.toml, and this environment runs the lock's versions (so CI tests what the image gets)."""
import importlib.metadata as md
import re

import pytest
from conftest import REPO
from packaging.requirements import Requirement

from xlr import container

LOCK = REPO / "requirements.lock"


def lock_pins() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if m:
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def dockerfile_arg(name: str) -> str:
    m = re.search(rf'^ARG {name}="?([^"\n]+)"?$', (REPO / "Dockerfile").read_text(), re.M)
    assert m, f"Dockerfile has no ARG {name} default"
    return m.group(1)


def test_default_base_image_matches_the_default_torch_wheels_cuda():
    base = dockerfile_arg("BASE_IMAGE")
    base_major = int(re.search(r"nvidia/cuda:(\d+)\.", base).group(1))
    pins = lock_pins()
    # PyPI's Linux torch wheel pulls CUDA runtime packages named for its CUDA major (nvidia-*-cu13, ...)
    majors = {int(m) for name in pins for m in re.findall(r"^nvidia-.*-cu(\d+)$", name)}
    if "cuda-toolkit" in pins:
        majors.add(int(pins["cuda-toolkit"].split(".")[0]))
    assert majors == {base_major}, (base, sorted(majors))
    spec = dockerfile_arg("TORCH_SPEC")
    assert spec == f"torch=={pins['torch']}"
    assert container.TORCH_CUDA["cu130"] == (base, spec)


def test_every_torch_cuda_pair_agrees():
    for key, (base, spec) in container.TORCH_CUDA.items():
        cuda = re.search(r"nvidia/cuda:(\d+)\.(\d+)", base).groups()
        assert key == f"cu{cuda[0]}{cuda[1]}", (key, base)
        assert spec.startswith(f"torch=={lock_pins()['torch']}")


def test_lock_satisfies_pyproject():
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = lock_pins()
    for text in project["dependencies"] + project["optional-dependencies"]["test"]:
        req = Requirement(text)
        name = req.name.lower().replace("_", "-")
        assert name in pins, f"{name} is in pyproject.toml but not in requirements.lock: re-run the lock command (README)"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name]}, outside pyproject's {req.specifier}: re-run the lock command")


@pytest.mark.parametrize("name", ["torch", "transformers", "accelerate", "datasets", "tokenizers", "numpy"])
def test_this_environment_runs_the_locked_versions(name):
    installed = md.version(name).split("+")[0]
    assert installed == lock_pins()[name], (
        f"{name} {installed} is installed but requirements.lock pins {lock_pins()[name]}: install with "
        "`pip install torch==2.13.0 -c requirements.lock -e \".[test]\"` (README)")
