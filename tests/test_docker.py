"""The container: the Dockerfile builds an image that runs `xlr reproduce smoke` for real, and `xlr docker`
maps its arguments onto Docker SDK calls.

The engine tests skip, saying why, when no Docker daemon is reachable, unless XLR_REQUIRE_DOCKER=1 (.ci/run
sets it), which makes that a failure. They build on XLR_DOCKER_BASE_IMAGE with TORCH_SPEC=XLR_DOCKER_TORCH_SPEC
(.ci/run: a local Debian base and the CPU torch wheel in wheels/); without those, a CPU image from public ones.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from unittest import mock

import pytest
from conftest import REPO, run_xlr
from docker.types import DeviceRequest
from test_smoke_e2e import LANGS, table_header
from typer.testing import CliRunner

from xlr.commands import docker as container
from xlr.cli import app
from xlr.errors import XlrError

TAG = "xlr-test:latest"
BASE_IMAGE = os.environ.get("XLR_DOCKER_BASE_IMAGE", "debian:bookworm-slim")
TORCH_SPEC = os.environ.get("XLR_DOCKER_TORCH_SPEC", "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu")
BUILD_ARGS = ["--base-image", BASE_IMAGE, "--torch-spec", TORCH_SPEC, "--network", "host"]
RESULTS_HEADER = "experiment,task,model,method,seed,setting,language,accuracy"
USER = f"{os.getuid()}:{os.getgid()}"


# --- without a daemon ---------------------------------------------------------------------------------

def test_gpus_become_device_requests():
    assert container.device_requests("all") == [DeviceRequest(count=-1, capabilities=[["gpu"]])]
    assert container.device_requests("0,1") == [DeviceRequest(device_ids=["0", "1"], capabilities=[["gpu"]])]
    assert container.device_requests("none") == []
    for bad in ("", "0,x", "two"):
        with pytest.raises(XlrError, match="--gpus"):
            container.device_requests(bad)


def fake_client(exit_code=0, output=((b"the table\n", None), (None, b"progress\n"))):
    client = mock.MagicMock()
    created = client.containers.create.return_value
    created.attach.return_value = iter(output)
    created.wait.return_value = {"StatusCode": exit_code}
    return client


def test_run_maps_arguments_to_sdk_calls(tmp_path, monkeypatch):
    client = fake_client(exit_code=3)
    monkeypatch.setattr(container, "connect", lambda: client)
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "data").mkdir()

    result = CliRunner().invoke(app, [
        "docker", "run", "--image", "xlr:dev", "--gpus", "0,1", "--runs", str(tmp_path / "runs"),
        "-e", "HF_HUB_OFFLINE=1", "-v", f"{tmp_path / 'data'}:/data:ro",
        "--", "reproduce", "smoke", "--profile", "quick", "--data-dir", "/data"])

    assert result.exit_code == 3, result.output          # the container's exit code
    assert "the table" in result.output
    kwargs = client.containers.create.call_args.kwargs
    assert kwargs["image"] == "xlr:dev"
    assert kwargs["command"] == ["reproduce", "smoke", "--profile", "quick", "--data-dir", "/data"]
    assert kwargs["device_requests"] == [DeviceRequest(device_ids=["0", "1"], capabilities=[["gpu"]])]
    assert kwargs["user"] == USER
    mounts = {m["Target"]: (m["Source"], m["ReadOnly"]) for m in kwargs["mounts"]}
    assert mounts == {"/work/runs": (str(tmp_path / "runs"), False),
                      "/cache/huggingface": (str(tmp_path / "hf"), False),
                      "/cache/xlr": (str(tmp_path / "cache" / "xlr"), False),
                      "/data": (str(tmp_path / "data"), True)}
    for made in ("runs", "hf", "cache/xlr"):                          # made as the user, not by the daemon
        assert (tmp_path / made).is_dir(), made
    env = kwargs["environment"]
    assert env["HF_TOKEN"] == "hf_secret" and env["HF_HOME"] == "/cache/huggingface"
    assert env["HF_HUB_OFFLINE"] == "1"
    client.containers.create.return_value.remove.assert_called_once_with(force=True)


def test_run_defaults_all_gpus_and_no_gpus_means_none(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HOME", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    config = container.container_options("xlr", [])
    assert config["device_requests"] == [DeviceRequest(count=-1, capabilities=[["gpu"]])]
    assert config["command"] is None                      # the image's CMD (--help)
    assert "HF_TOKEN" not in config["environment"]
    mounts = {m["Target"]: m["Source"] for m in config["mounts"]}
    assert mounts == {"/work/runs": str(tmp_path / "runs"),
                      "/cache/huggingface": str(tmp_path / ".cache" / "huggingface"),
                      "/cache/xlr": str(tmp_path / ".cache" / "xlr")}

    client = fake_client()
    monkeypatch.setattr(container, "connect", lambda: client)
    result = CliRunner().invoke(app, ["docker", "run", "--no-gpus", "--", "reproduce", "smoke"])
    assert result.exit_code == 0, result.output
    assert client.containers.create.call_args.kwargs["device_requests"] == []


def test_build_finds_this_checkouts_dockerfile_from_any_folder(tmp_path, monkeypatch):
    """`xlr docker build` without --context builds the checkout xlr runs from, wherever it is started."""
    monkeypatch.chdir(tmp_path)
    if container.Path(container.__file__).resolve().is_relative_to(REPO):
        assert container.default_context() == REPO
    else:  # an installed (not editable) xlr: the current folder
        assert container.default_context() == tmp_path


def test_no_daemon_is_one_line_exit_2(tmp_path):
    env = {"DOCKER_HOST": f"unix://{tmp_path}/missing.sock"}
    for args in (["docker", "run", "--no-gpus", "--runs", tmp_path / "runs", "--", "reproduce", "smoke"],
                 ["docker", "build"]):
        proc = run_xlr(*args, env=env)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("error: cannot reach the Docker daemon") and proc.stderr.count("\n") == 1, \
            proc.stderr
    assert not (tmp_path / "runs").exists()                  # nothing made on the host for a run that cannot start


def test_bad_docker_arguments_are_one_line_exit_2(tmp_path):
    for args in (["--gpus", "first"], ["-e", "=x"], ["-v", "no-colon"]):
        proc = run_xlr("docker", "run", *args, "--runs", tmp_path / "runs", "--", "reproduce", "smoke")
        assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr, \
            (args, proc.stderr)


# --- with a Docker engine -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def engine():
    """A reachable daemon and docker CLI; skip with the reason, or fail when XLR_REQUIRE_DOCKER=1."""
    import docker

    reason = None if shutil.which("docker") else "the docker CLI is not installed"
    if reason is None:
        try:
            docker.from_env().ping()
        except docker.errors.DockerException as e:
            reason = f"no Docker daemon reachable ({str(e).splitlines()[0]})"
    if reason and os.environ.get("XLR_REQUIRE_DOCKER") == "1":
        pytest.fail(f"XLR_REQUIRE_DOCKER=1 but {reason}")
    if reason:
        pytest.skip(f"{reason}; set XLR_REQUIRE_DOCKER=1 to make this a failure")
    return docker.from_env()


@pytest.fixture(scope="module")
def image(engine) -> str:
    """The image, built once with the docker CLI as README says. The legacy builder (DOCKER_BUILDKIT=0) is
    the one the SDK drives, so `xlr docker build` below reuses these layers from the cache."""
    proc = subprocess.run(
        ["docker", "build", "--network", "host", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}",
         "--build-arg", f"TORCH_SPEC={TORCH_SPEC}", "-t", TAG, str(REPO)],
        env={**os.environ, "DOCKER_BUILDKIT": "0"}, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, f"docker build failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    return TAG


def check_smoke(stdout: str, runs) -> None:
    assert table_header(stdout)[1:] == LANGS + ["avg"], stdout
    results = runs / "smoke" / "results.csv"
    assert results.is_file(), f"no {results} on the host"
    assert results.read_text().splitlines()[0] == RESULTS_HEADER


@pytest.mark.slow  # builds the container
def test_image_runs_as_non_root_and_any_uid_can_write(engine, image):
    config = engine.images.get(image).attrs["Config"]
    assert config["Entrypoint"] == ["xlr"] and config["User"] == "xlr" and config["WorkingDir"] == "/work"
    assert not config.get("Volumes")   # no anonymous volumes: results live where the user mounts them
    probe = "touch /work/runs/x /cache/huggingface/x /cache/xlr/x $HOME/x /work/x && id -u"
    out = subprocess.run(["docker", "run", "--rm", "--network", "none", "--user", "12345:12345", "--entrypoint",
                          "sh", image, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "12345", out.stderr


@pytest.fixture(scope="module")
def container_smoke(image, tmp_path_factory):
    """`docker run --rm ... xlr reproduce smoke` with runs/ and the HF cache mounted: (runs, hf, process)."""
    runs, hf = tmp_path_factory.mktemp("container") / "runs", tmp_path_factory.mktemp("container-hf")
    runs.mkdir()
    proc = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--user", USER, "-e", "HF_HUB_OFFLINE=1", "-e", "COLUMNS=200",
         "-v", f"{runs}:/work/runs", "-v", f"{hf}:/cache/huggingface", image, "reproduce", "smoke"],
        capture_output=True, text=True, timeout=900)
    return runs, hf, proc


@pytest.mark.slow  # builds the container
def test_docker_run_reproduce_smoke_writes_to_mounted_runs(container_smoke):
    runs, _, proc = container_smoke
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "best source dev accuracy" in proc.stderr           # it trained, in the container
    check_smoke(proc.stdout, runs)


@pytest.mark.slow  # builds the container
def test_xlr_docker_build_then_run_smoke_without_gpus(engine, container_smoke):
    """The SDK path on the runs the container above wrote: the finished runs are skipped (no second
    training: CI time), the table comes back on stdout, the container's stderr on stderr."""
    runs, hf, first = container_smoke
    assert first.returncode == 0, first.stderr[-3000:]
    build = run_xlr("docker", "build", "--tag", TAG, *BUILD_ARGS, timeout=1500)
    assert build.returncode == 0, build.stderr[-3000:]
    assert "Using cache" in build.stderr and build.stdout.startswith(f"built {TAG}"), build.stdout
    assert build.stdout.split("(")[1].rstrip(")\n") == engine.images.get(TAG).id

    proc = run_xlr("docker", "run", "--image", TAG, "--no-gpus", "--runs", runs, "--hf-home", hf,
                   "--network", "none", "-e", "HF_HUB_OFFLINE=1", "--", "reproduce", "smoke", timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    check_smoke(proc.stdout, runs)
    assert "already finished" in proc.stderr and "already finished" not in proc.stdout  # stderr stays stderr

    failing = run_xlr("docker", "run", "--image", TAG, "--no-gpus", "--runs", runs, "--hf-home", hf,
                      "--network", "none", "--", "reproduce", "no-such-experiment")
    assert failing.returncode == 2 and "error: unknown experiment" in failing.stderr, failing.stderr


@pytest.mark.slow  # builds the container
def test_doctor_in_the_image_reports_the_torch_build(image):
    """`xlr doctor` in the container: versions, the torch build the image recorded, exit 1 with reasons here
    (no GPU, no hub)."""
    proc = subprocess.run(["docker", "run", "--rm", "--network", "none", image, "doctor", "--hub-timeout", "1"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert re.search(r"torch\s+\d+\.\d+\.\d+", proc.stdout) and "cannot run here" in proc.stdout, proc.stdout
    kind = subprocess.run(["docker", "run", "--rm", "--network", "none", "--entrypoint", "cat", image,
                           "/opt/xlr/image-kind"], capture_output=True, text=True, timeout=120)
    expected = "cpu" if "cpu" in TORCH_SPEC else "cuda"
    assert kind.stdout.strip() == expected, kind
