"""`xlr bench throughput`: examples/s, counted forward passes, model FLOPs and MFU of the training step."""
import csv
import io
import json
import types

import pytest

from conftest import run_xlr

TINY = ["--model", "builtin:tiny-bert", "--batch-size", "8", "--seq-length", "32", "--steps", "2", "--warmup", "1",
        "--format", "csv"]


@pytest.mark.slow
def test_passes_are_counted_and_the_report_is_written(tmp_path):
    proc = run_xlr("bench", "throughput", *TINY, "--methods", "baseline,adv,freelb", "--profile-steps", "1",
                   "--out", tmp_path, "--device", "cpu", "--precision", "fp32", "--peak-tflops", "0.5",
                   env={"HF_HUB_OFFLINE": "1", "XLR_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    rows = {r["method"]: r for r in csv.DictReader(io.StringIO(proc.stdout))}
    # counted by a hook on the model, not declared: ADV's attack pass; FreeLB's K - 1 ascent and K training passes
    assert [rows[m]["passes"] for m in ("baseline", "adv", "freelb")] == ["1", "2", "5"], proc.stdout
    assert float(rows["baseline"]["examples / s"]) > 0 and rows["baseline"]["MFU"].endswith("%")
    report = json.loads((tmp_path / "throughput.json").read_text())
    baseline = report["results"][0]
    assert baseline["mfu"] == pytest.approx(baseline["achieved_tflops"] / 0.5)  # the given peak
    assert baseline["method"] == "baseline" and baseline["seq_length"] == 32 and report["device"]["device"] == "cpu"
    assert 0 < baseline["profile"]["busy_share"] <= 1.0
    for method in ("baseline", "adv", "freelb"):
        assert json.loads((tmp_path / f"trace-{method}.json").read_text())["traceEvents"]


def test_model_flops_follow_nanogpt():
    from xlr.engine.throughput import flop_per_token, peak_tflops

    config = types.SimpleNamespace(num_hidden_layers=12, num_attention_heads=12, hidden_size=768)
    # 6 N + 12 L H Q T with Q = 768 / 12 = 64 and T = 128
    assert flop_per_token(config, 85_000_000, 128) == 6 * 85_000_000 + 12 * 12 * 12 * 64 * 128
    assert peak_tflops("NVIDIA H100 PCIe", "bf16") == 756 and peak_tflops("NVIDIA H200", "fp16") == 989
    assert peak_tflops("NVIDIA L40", "bf16") == 181 and peak_tflops("NVIDIA L4", "bf16") == 121
    assert peak_tflops("NVIDIA H200", "fp32") is None and peak_tflops("CPU", "bf16") is None  # no MFU there


@pytest.mark.parametrize("args", [["--steps", "0"], ["--methods", "nope"], ["--precision", "fp8"],
                                  ["--out", "/proc/no/such"], ["--methods", ","], ["--peak-tflops", "0"],
                                  ["--seq-length", "4096"]])
def test_bad_input_is_one_line_exit_2(args, tmp_path):
    proc = run_xlr("bench", "throughput", "--model", "builtin:tiny-bert", *args, env={"HF_HUB_OFFLINE": "1"},
                   cwd=tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert list(tmp_path.iterdir()) == []  # not even the default --out folder


def test_gpu_kernel_time_is_counted_once(tmp_path):
    """An operator's device time includes its kernels' time; only the kernel events are summed."""
    from xlr.engine.throughput import _profile_summary

    class Event(types.SimpleNamespace):
        pass

    class Profiler:
        def key_averages(self):
            return [Event(key="aten::mm", device_type="DeviceType.CPU", self_device_time_total=300.0,
                          self_cpu_time_total=50.0),
                    Event(key="sm90_gemm", device_type="DeviceType.CUDA", self_device_time_total=300.0,
                          self_cpu_time_total=0.0)]

        def export_chrome_trace(self, path):
            open(path, "w").write("{}")

    profile = _profile_summary(Profiler(), seconds=0.002, steps=2, cuda=True, trace=tmp_path / "t.json")
    assert profile.busy_ms == pytest.approx(0.15) and profile.wall_ms == pytest.approx(1.0)  # 300 us / 2 steps


@pytest.mark.slow
def test_doctor_estimates_the_time_from_measured_rates(tmp_path):
    """`xlr doctor --rates` turns a throughput.json into the experiment's time: steps x measured s/step."""
    env = {"HF_HUB_OFFLINE": "1", "XLR_THREADS": "1"}
    proc = run_xlr("bench", "throughput", *TINY[:2], "--batch-size", "32", "--seq-length", "32", "--steps", "2",
                   "--warmup", "1", "--methods", "baseline,adv,rs-rp,rs-da", "--out", tmp_path, "--device", "cpu",
                   env=env)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "throughput.json").read_text())
    rate = {r["method"]: r["ms_per_step"] / 1000 for r in report["results"]}
    proc = run_xlr("doctor", "--experiment", "smoke", "--hub-timeout", "1", "--rates", tmp_path / "throughput.json",
                   env=env)
    line = next(x for x in proc.stdout.splitlines() if x.startswith("smoke rs-da"))
    assert "375 steps per seed" in line and f"{rate['rs-da']:.3g} s/step" in line, proc.stdout
    total = 195 * (rate["baseline"] + rate["adv"] + rate["rs-rp"]) + 375 * rate["rs-da"]
    time_line = next(x for x in proc.stdout.splitlines() if x.startswith("smoke time"))
    assert "builtin:tiny-bert, compile off, on CPU" in time_line, time_line
    from xlr.engine.cost import human_seconds

    assert f"about {human_seconds(total)} for 4 methods" in time_line, time_line


@pytest.mark.parametrize("fault", ["batch", "method", "corrupt", "both"])
def test_doctor_refuses_rates_it_cannot_use(tmp_path, fault):
    rates = tmp_path / "throughput.json"
    report = {"model": "m", "batch_size": 32, "compile": "off", "device": {"name": "CPU"},
              "results": [{"method": m, "ms_per_step": 10.0} for m in ("baseline", "adv", "rs-rp", "rs-da")]}
    if fault == "batch":
        report["batch_size"] = 16
    if fault == "method":
        report["results"].pop()
    rates.write_text("{" if fault == "corrupt" else json.dumps(report))
    extra = ["--measure"] if fault == "both" else []
    proc = run_xlr("doctor", "--experiment", "smoke", "--hub-timeout", "1", "--rates", rates, *extra,
                   env={"HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert {"batch": "--batch-size 32", "method": "rs-da", "corrupt": "corrupt", "both": "give one"}[fault] in proc.stderr


@pytest.mark.parametrize("args, message", [
    (("--experiment", "nope"), "unknown experiment 'nope'"), (("--experiment", "broken.toml"), "not valid TOML"),
    (("--rates", "."), "is a folder; pass the throughput.json"), (("--rates", "none.json"), "does not exist"),
])
def test_doctor_refuses_input_it_cannot_use_before_the_report(tmp_path, args, message):
    """An unknown name, a broken TOML or a --rates that is no file is bad input (exit 2, one line), not a
    report with an unknown cost."""
    (tmp_path / "broken.toml").write_text('title = "x\n')
    proc = run_xlr("doctor", *args, "--hub-timeout", "1", env={"HF_HUB_OFFLINE": "1"}, cwd=tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stdout + proc.stderr
    assert message in proc.stderr and not proc.stdout.strip()
