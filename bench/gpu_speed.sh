#!/usr/bin/env bash
# Speed of xlr's training step on one GPU, in one command: where a step's time goes, eager against compiled
# steps, how many workers one GPU holds, and table1's projected time at the paper's budget.
#
#   bash bench/gpu_speed.sh [OUT]          # OUT defaults to bench/out/gpu-speed
#
# Steps, each with its own time limit, each writing under OUT as it goes (a step that runs out of time or
# fails is logged with its exit status, and the next one starts):
#   1. `xlr doctor`;
#   2. `xlr bench throughput` for every paper method and R3F with train.compile off, default and graphs,
#      STEPS timed steady-state steps after WARMUP (compilation happens there), PROFILE steps profiled;
#   3. N concurrent workers of the eager baseline (N in WORKERS), and again under CUDA MPS when
#      nvidia-cuda-mps-control is installed: the aggregate examples/s and MFU;
#   4. `xlr doctor --rates` with the fastest mode's rates: table1's training time at the paper's budget
#      in one worker; then the summary (summary.md) divides it by the best measured worker speed-up.
# The model's config is all that is read (random weights); offline, set MODEL to a local folder with it
# (`python bench/random_mbert.py` writes one in bert-base-multilingual-cased's shape).
set -u
OUT=${1:-bench/out/gpu-speed}
MODEL=${MODEL:-bert-base-multilingual-cased}
STEPS=${STEPS:-200}
WARMUP=${WARMUP:-20}
PROFILE=${PROFILE:-5}
WORKERS=${WORKERS:-"1 2 4 8"}
METHODS=${METHODS:-baseline,adv,rs-rp,rs-da,r3f}
LIMIT=${LIMIT:-600}
mkdir -p "$OUT"

. "$(dirname "$0")/steps.sh"   # step NAME SECONDS COMMAND...

throughput() {  # throughput OUTDIR [extra flags]: one measurement at table1's batch of 32 x 128 tokens
  local dir=$1
  shift
  xlr bench throughput --model "$MODEL" --batch-size 32 --seq-length 128 --steps "$STEPS" --warmup "$WARMUP" \
    --out "$dir" --format csv "$@"
}

workers() {  # workers TAG N: N eager baseline measurements at once
  local tag=$1 n=$2 i
  for i in $(seq "$n"); do
    throughput "$OUT/$tag-$n/$i" --methods baseline > "$OUT/$tag-$n-$i.log" 2>&1 &
  done
  wait
}

export OUT MODEL STEPS WARMUP
export -f throughput workers
step doctor 120 xlr doctor --hub-timeout 3
for mode in off default graphs; do
  step "compile-$mode" "$LIMIT" throughput "$OUT/compile-$mode" --methods "$METHODS" --compile "$mode" \
    --profile-steps "$PROFILE"
done
for n in $WORKERS; do
  step "workers-$n" "$LIMIT" workers workers "$n"
done
if command -v nvidia-cuda-mps-control > /dev/null; then
  export CUDA_MPS_PIPE_DIRECTORY="$OUT/mps/pipe" CUDA_MPS_LOG_DIRECTORY="$OUT/mps/log"
  mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
  if nvidia-cuda-mps-control -d; then
    for n in $WORKERS; do
      step "mps-$n" "$LIMIT" workers mps "$n"
    done
    echo quit | nvidia-cuda-mps-control
  else
    echo "CUDA MPS could not start here; measured without it only" | tee "$OUT/mps.log"
  fi
  unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
else
  echo "nvidia-cuda-mps-control is not installed; measured without MPS only" | tee "$OUT/mps.log"
fi
best=$(python - "$OUT" <<'EOF'
import json, sys
from pathlib import Path

def total(path):  # ms per step summed over the methods table1 trains
    r = {x["method"]: x["ms_per_step"] for x in json.loads(path.read_text())["results"]}
    return sum(r[m] for m in ("baseline", "adv", "rs-rp", "rs-da")) if {"baseline", "adv", "rs-rp", "rs-da"} <= set(r) else None

found = [(total(p), p) for p in Path(sys.argv[1]).glob("compile-*/throughput.json")]
found = sorted((t, p) for t, p in found if t is not None)
print(found[0][1] if found else "")
EOF
)
if [ -n "$best" ]; then
  step table1-time 300 xlr doctor --hub-timeout 3 --rates "$best"
fi
python - "$OUT" <<'EOF' | tee "$OUT/summary.md"
import json, re, sys
from pathlib import Path

out = Path(sys.argv[1])
print("| mode | method | ms / step | examples / s | MFU | busy share (GPU: in kernels) |\n|---|---|---:|---:|---:|---:|")
for p in sorted(out.glob("compile-*/throughput.json")):
    for r in json.loads(p.read_text())["results"]:
        mfu = "–" if r["mfu"] is None else f"{100 * r['mfu']:.1f}%"
        busy = f"{100 * r['profile']['busy_share']:.0f}%" if r.get("profile") else "–"
        print(f"| {p.parent.name} | {r['method']} | {r['ms_per_step']:.1f} | {r['examples_per_s']:.0f} | {mfu} | {busy} |")
print("\n| workers | sharing | examples / s, all workers | speed-up over 1 | aggregate MFU |\n|---:|---|---:|---:|---:|")
one, best = None, 1.0
for tag in ("workers", "mps"):
    for d in sorted(out.glob(f"{tag}-*"), key=lambda d: int(d.name.split("-")[1]) if d.name.split("-")[1].isdigit() else 0):
        runs = [json.loads(p.read_text())["results"][0] for p in d.glob("*/throughput.json")]
        if not d.is_dir() or not runs:
            continue
        n = int(d.name.split("-")[1])
        rate = sum(r["examples_per_s"] for r in runs)
        one = rate if one is None and n == 1 and tag == "workers" else one
        speedup = rate / one if one else None
        if speedup and len(runs) == n:
            best = max(best, speedup)
        peaks = [r["peak_tflops"] for r in runs if r["peak_tflops"]]
        mfu = f"{100 * sum(r['achieved_tflops'] for r in runs) / peaks[0]:.1f}%" if peaks else "–"
        done = "" if len(runs) == n else f" ({len(runs)} of {n} finished)"
        print(f"| {n} | {'MPS' if tag == 'mps' else 'time-slicing'}{done} | {rate:.0f} | "
              f"{'–' if speedup is None else f'{speedup:.2f}x'} | {mfu} |")
log = out / "table1-time.log"
line = next((x for x in log.read_text().splitlines() if x.startswith("table1 time")), None) if log.is_file() else None
print("\ntable1 at the paper's budget:", line.split(None, 2)[2] if line else "not measured")
if line:
    m = re.search(r"about ([\d.]+) (s|min|h)", line)
    if m:
        seconds = float(m.group(1)) * {"s": 1, "min": 60, "h": 3600}[m.group(2)]
        print(f"with the best measured worker speed-up ({best:.2f}x): about {seconds / best / 60:.0f} min")
EOF
