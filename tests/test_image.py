"""The image and its pins agree: the default base image's CUDA is the default torch wheel's CUDA, the lock
satisfies pyproject.toml, and this environment runs the lock's versions (so CI tests what the image gets)."""
import importlib.metadata as md
import re

import pytest
from conftest import REPO
from packaging.requirements import Requirement

from xlr.commands import docker as container

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
        "`pip install -c requirements.lock -e \".[test]\"` after torch (README, \"Install\")")


def _tracked_text_files():
    import subprocess

    names = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for name in names:
        path = REPO / name
        if path.suffix in (".png", ".npz", ".whl") or not path.is_file():
            continue
        try:
            yield name, path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue


def test_no_file_offers_a_build_arg_or_torch_build_that_does_not_exist():
    """Every `--build-arg NAME` is an ARG of the Dockerfile, every `--torch-cuda KEY` and every PyTorch wheel
    index named anywhere is a pair of container.TORCH_CUDA (or the CPU index)."""
    declared = set(re.findall(r"^ARG (\w+)", (REPO / "Dockerfile").read_text(), re.M))
    indexes = {"cpu", *container.TORCH_CUDA}
    wrong = []
    for name, text in _tracked_text_files():
        wrong += [f"{name}: --build-arg {a}" for a in re.findall(r"--build-arg[ =]\"?(\w+)=", text) if a not in declared]
        wrong += [f"{name}: --torch-cuda {k}" for k in re.findall(r"--torch-cuda[ =](cu\d+)", text)
                  if k not in container.TORCH_CUDA]
        wrong += [f"{name}: whl/{k}" for k in re.findall(r"download\.pytorch\.org/whl/(\w+)", text) if k not in indexes]
    assert not wrong, wrong


def test_an_older_python_is_one_line_naming_the_fix():
    import tomllib

    import xlr

    assert xlr.python_floor_error((3, 11, 0)) is None
    message = xlr.python_floor_error((3, 10, 12))
    assert "Python 3.11 or newer" in message and "3.10.12" in message and "container" in message
    assert "\n" not in message
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=" + ".".join(map(str, xlr.MIN_PYTHON))  # pip refuses what xlr refuses
