"""The device is never a surprise: one line, GPU asked for but absent is exit 2, precision by native support,
threads from the usable cores."""
import pytest
import torch
from conftest import run_xlr

from xlr.machine import device
from xlr.errors import XlrError


@pytest.fixture
def no_gpu_env(monkeypatch):
    for var in ("XLR_DEVICE", "XLR_IMAGE", "XLR_THREADS", "OMP_NUM_THREADS", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device, "nvidia_runtime_present", lambda: False)
    monkeypatch.setattr(device, "IMAGE_KIND_FILE", device.Path("/nonexistent/image-kind"))


@pytest.mark.parametrize("native, capability, expected", [
    (True, (9, 0), "bf16"),     # H100
    (True, (8, 0), "bf16"),     # A100
    (False, (7, 5), "fp16"),    # T4: bf16 only emulated
    (False, (7, 0), "fp16"),    # V100
])
def test_precision_follows_native_bf16(monkeypatch, native, capability, expected):
    monkeypatch.setattr(device, "native_bf16", lambda: native)
    monkeypatch.setattr(device, "gpu_capability", lambda: capability)
    chosen, reason = device.choose_precision("cuda", "auto")
    assert chosen == expected and f"{capability[0]}.{capability[1]}" in reason
    assert device.choose_precision("cuda", "fp32") == ("fp32", "asked for")


def test_bf16_asked_on_a_card_without_it_is_refused(monkeypatch):
    monkeypatch.setattr(device, "native_bf16", lambda: False)
    monkeypatch.setattr(device, "gpu_capability", lambda: (7, 5))
    with pytest.raises(XlrError, match="no native bf16"):
        device.choose_precision("cuda", "bf16")
    assert device.choose_precision("cpu", "auto") == ("fp32", "CPU")
    with pytest.raises(XlrError, match="needs a GPU"):
        device.choose_precision("cpu", "fp16")


def test_native_bf16_excludes_emulation(monkeypatch):
    calls = {}

    def supported(including_emulation=True):
        calls["including_emulation"] = including_emulation
        return False

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", supported)
    assert device.native_bf16() is False and calls == {"including_emulation": False}


def test_gpu_asked_for_but_absent_names_the_cause(no_gpu_env, monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", None)
    with pytest.raises(XlrError, match="CPU build"):
        device.resolve("cuda")
    monkeypatch.setenv("XLR_DEVICE", "cuda")
    with pytest.raises(XlrError, match="asked for"):
        device.resolve()


def test_old_driver_is_named(no_gpu_env, monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(device, "driver_version", lambda: "575.57.08")
    assert "575.57.08 is older than torch's CUDA 13.0 needs (>= 580)" in device.why_no_gpu()


def test_gpus_handed_in_but_unusable_is_a_mismatch(no_gpu_env, monkeypatch):
    monkeypatch.setattr(device, "nvidia_runtime_present", lambda: True)
    with pytest.raises(XlrError, match="handed to this process"):
        device.resolve()
    assert device.resolve("cpu").device == "cpu"  # unless the CPU is asked for


def test_gpu_image_without_gpu_fails_unless_cpu_is_asked_for(no_gpu_env, monkeypatch):
    monkeypatch.setenv("XLR_IMAGE", "cuda")
    with pytest.raises(XlrError, match="--gpus all"):
        device.resolve()
    monkeypatch.setenv("XLR_DEVICE", "cpu")
    info = device.resolve()
    assert info.device == "cpu" and info.line().startswith("device: CPU; precision: fp32")


def test_plain_cpu_machine_trains_on_cpu(no_gpu_env):
    info = device.resolve()
    assert (info.device, info.precision, info.world_size) == ("cpu", "fp32", 1)


def test_threads_from_usable_cores_and_sharing(no_gpu_env, monkeypatch):
    monkeypatch.setattr(device, "usable_cores", lambda: (8, "affinity"))
    assert device.choose_threads() == (8, "8 usable cores (affinity)")
    assert device.choose_threads(sharing=2)[0] == 4
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert device.choose_threads()[0] == 2
    monkeypatch.setenv("XLR_THREADS", "3")
    assert device.choose_threads() == (3, "XLR_THREADS")
    monkeypatch.setenv("XLR_THREADS", "many")
    with pytest.raises(XlrError, match="positive integer"):
        device.choose_threads()


def test_cgroup_quota_caps_the_cores(monkeypatch):
    monkeypatch.setattr(device.os, "sched_getaffinity", lambda pid: set(range(16)))
    monkeypatch.setattr(device, "_cgroup_quota", lambda: 2.0)
    assert device.usable_cores() == (2, "cgroup quota")


@pytest.mark.slow
def test_cli_gpu_asked_for_is_exit_2_one_line(tmp_path):
    proc = run_xlr("reproduce", "smoke", "--device", "cuda", "--out", tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "GPU was asked for" in proc.stderr
    proc = run_xlr("train", "--model", "builtin:tiny-bert", "--data-dir", "builtin:fixture", "--out", tmp_path,
                   env={"XLR_DEVICE": "cuda"})
    assert proc.returncode == 2 and "GPU was asked for" in proc.stderr


def test_unmounted_run_store_in_the_image_is_announced(monkeypatch, tmp_path):
    from xlr.machine import container

    kind = tmp_path / "image-kind"
    monkeypatch.setattr(device, "IMAGE_KIND_FILE", kind)
    assert container.unmounted_output_warning(tmp_path / "runs") is None       # not in the image
    kind.write_text("cuda\n")
    monkeypatch.setattr(container, "mount_points", lambda: ["/", "/proc"])
    assert "vanish" in container.unmounted_output_warning(tmp_path / "runs")
    monkeypatch.setattr(container, "mount_points", lambda: ["/", str(tmp_path / "runs")])
    assert container.unmounted_output_warning(tmp_path / "runs" / "table1") is None
    # and `xlr docker run` tells the container which device it asked for
    from xlr.commands import docker

    config = docker.container_options("xlr", ["reproduce", "smoke"], gpus="none", runs=tmp_path / "r",
                                      hf_home=tmp_path / "h")
    assert config["environment"]["XLR_DEVICE"] == "cpu"


def test_threads_follow_the_workers_sharing_the_cores(no_gpu_env, monkeypatch):
    monkeypatch.setattr(device, "usable_cores", lambda: (2, "affinity"))
    workers = {"n": 1}
    device.set_sharing_probe(lambda: workers["n"])
    try:
        assert device.configure().threads == 2
        workers["n"] = 2                      # a second sweep worker started on this host
        device.refresh()
        assert device.current().threads == 1 and torch.get_num_threads() == 1
        workers["n"] = 1
        device.refresh()
        assert device.current().threads == 2
    finally:
        device.set_sharing_probe(None)
        device.configure()


def test_doctor_reports_and_exits_by_readiness():
    proc = run_xlr("doctor", "--hub-timeout", "1", env={"HF_HUB_OFFLINE": "1"})
    assert "xlr would train on" in proc.stdout and "torch" in proc.stdout, proc.stdout + proc.stderr
    # offline mode means table1 cannot download mBERT: exit 1 with that reason; never a traceback
    assert proc.returncode == 1 and "offline mode" in proc.stdout and "Traceback" not in proc.stderr


def test_a_bare_docker_run_ends_with_how_to_keep_its_results(monkeypatch, tmp_path):
    from xlr.machine import container

    kind = tmp_path / "image-kind"
    monkeypatch.setattr(device, "IMAGE_KIND_FILE", kind)
    runs, hf = tmp_path / "runs", tmp_path / "hf"
    runs.mkdir()
    (hf / "hub").mkdir(parents=True)
    monkeypatch.setenv("HF_HOME", str(hf))
    assert container.unmounted_notice(runs) == []                            # not in the image
    kind.write_text("cuda\n")
    monkeypatch.setattr(container, "mount_points", lambda: ["/", "/proc"])
    monkeypatch.setattr("socket.gethostname", lambda: "3f2a9c1b7e44")
    lines = container.unmounted_notice(runs)
    assert f"docker cp 3f2a9c1b7e44:{runs.resolve()} ./runs" in lines[0]
    assert f"docker cp 3f2a9c1b7e44:{hf} ~/.cache/" in lines[1]
    assert lines[2].startswith("next time mount them:") and f"$PWD/runs:{runs.resolve()}" in lines[2]
    monkeypatch.setattr(container, "mount_points", lambda: ["/", str(runs), str(hf)])
    assert container.unmounted_notice(runs) == []                            # both on host folders
