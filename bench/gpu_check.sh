#!/usr/bin/env bash
# The checks that need a GPU, as one script for a lent machine (bench/README.md, "GPU"). Prepare here:
#   python bench/e5_pack.py pack --out .e5pack                         # e5 in 23 MiB (see its docstring)
#   mkdir -p .gpu/data && cp -r ../shared/data/pawsx ../shared/data/counterfitted_neighbors.json .gpu/data/
#   wheels of what the GPU image lacks (datasets, dill, multiprocess) in .whl/
# and run there with .e5pack, .gpu and .whl carried. Phases, each with its own time limit, each in order
# (GPU_SKIP_A=1 / GPU_SKIP_B=1 skip the first two):
#   A  xlr doctor; bench/throughput.py on random-init mBERT (speed, bf16, MFU)
#   B  xlr reproduce table1 --profile quick on random-init mBERT (4 workers sharing one run store)
#   C  the e5 `cpu`-profile comparison on the GPU in fp32 (as on CPU): 3 seeds, the rows beyond the paper
#      (FreeLB, R3F), group_by_length, ADV with shared dropout masks, the generalized setting, and the ADV / RS-RP radius sweeps around the
#      defaults (English dev only). bench/README.md has what each run measured (commit 19e3036: the old
#      188-step budget; be64a73 and 126393f: the 376-step one).
# Everything it measured is written under $OUT (bench/out/gpu here): logs, throughput.json, and a tarball
# of the run stores without model weights.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/out/gpu}
LOG=/tmp/gpu-logs                      # everything lands in $OUT/gpu.tgz at the end (the device tool returns 8 files)
mkdir -p "$OUT" "$LOG"
T0=$(date +%s)
DEADLINE=$(( T0 + ${GPU_BUDGET_S:-565} ))   # the tarball is written before this, whatever ran late
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_VERBOSITY=error
if [[ -d .whl ]]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=$PWD/src:/tmp/site
else
  export PYTHONPATH=$PWD/src
fi
xlr() { python3 -m xlr "$@"; }
# ../shared as the bench scripts and the cpu profile expect it
mkdir -p ../shared/tools
[[ -e ../shared/data ]] || ln -s "$PWD/.gpu/data" ../shared/data
[[ -e ../shared/tools/offline_e5_small.py ]] || cp .e5pack/offline_e5_small.py ../shared/tools/
phase() { echo; echo "=== $1 ($(date -u +%T))"; }

phase "setup"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
python3 -c "import torch, transformers, datasets; print('torch', torch.__version__, 'transformers', transformers.__version__, 'datasets', datasets.__version__)"
# the cpu profile's model folder; an existing one (the offline tool's, with all rows) is kept
[[ -e ~/.cache/xlr-offline-models/multilingual-e5-small/xlr-offline-model.json ]] ||
  python3 bench/e5_pack.py unpack .e5pack > "$LOG/e5-unpack.log" 2>&1 &
[[ -n ${GPU_SKIP_A:-} && -n ${GPU_SKIP_B:-} ]] ||     # random-init mBERT: only phases A and B use it
  python3 bench/random_mbert.py /tmp/random-mbert > "$LOG/random-mbert.log" 2>&1 &
wait
tail -1 "$LOG/e5-unpack.log" 2>/dev/null; tail -1 "$LOG/random-mbert.log" 2>/dev/null

if [[ -z ${GPU_SKIP_A:-} ]]; then
phase "A: doctor"
xlr doctor 2>&1 | tee "$LOG/doctor.log"
phase "A: throughput, random-init mBERT"
timeout 130 python3 bench/throughput.py --model random-mbert --steps ${GPU_TP_STEPS:-40} --eval-every 20 \
  --out "$LOG/throughput.json" 2>&1 | tee "$LOG/throughput.log"
fi

if [[ -z ${GPU_SKIP_B:-} ]]; then
phase "B: reproduce table1 --profile quick, random-init mBERT, 4 workers"
QUICK=(table1 --profile quick --model /tmp/random-mbert --data-dir ../shared/data
       --train-file ../shared/data/pawsx/train-en-small.tsv --synonyms ../shared/data/counterfitted_neighbors.json
       --out /tmp/runs-quick --format markdown ${GPU_EXTRA:-})
start=$(date +%s)
for w in 1 2 3; do timeout 160 python3 -m xlr reproduce "${QUICK[@]}" > "$LOG/quick-worker$w.log" 2>&1 & done
timeout 160 python3 -m xlr reproduce "${QUICK[@]}" 2>&1 | tee "$LOG/quick.log"
wait
echo "quick: $(( $(date +%s) - start )) s wall, 4 workers"
fi

phase "C: e5 cpu profile on the GPU"
# words, not arrays, so that the worker functions can be exported to `timeout bash -c` (no spaces in paths)
export SW="--profile cpu --data-dir ../shared/data --train-file ../shared/data/pawsx/train-en-small.tsv
    --set train.precision=fp32 ${GPU_EXTRA:-}"
export E5="$SW --synonyms ../shared/data/counterfitted_neighbors.json"
export R=/tmp/e5runs
b1() { xlr reproduce table1 $E5 --seeds 1,2,3 --out $R/cpu --format markdown; }
# beyond the paper (FreeLB, R3F): the same store, so `xlr compare --between baseline freelb` pairs them
b2() { xlr reproduce table1 $SW --seeds 1,2,3 --out $R/cpu --methods freelb,r3f --format markdown; }
gen() { xlr reproduce bench/pawsx_generalized.toml $E5 --seeds 1,2,3 --out $R/cpu --format markdown; }
# the baseline with group_by_length, on the seeds given ($SW: --synonyms is an error where no selected method
# takes it); g1, g2, g3 take one seed each, so a worker that starts on g1 never waits for the others' seeds
gbs() { xlr reproduce table1 $SW --seeds $1 --methods baseline --set train.group_by_length=true --out $R/grouped \
          --format markdown; }
gbl() { gbs 1,2,3; }
g1() { gbs 1; }
g2() { gbs 2; }
g3() { gbs 3; }
# ADV with shared dropout masks (bench/adv_dropout.py): its own store, since the option is in the run's identity
ash() { xlr reproduce table1 $SW --seeds 1,2,3 --methods adv --set methods.adv.dropout=shared --out $R/adv-shared; }
sw_adv() { xlr sweep table1 $SW --methods adv --grid epsilon=0.0025,0.01,0.02 --seeds 1,2,3 --out $R/sweep; }
sw_rp() { xlr sweep table1 $SW --methods rs-rp --grid epsilon=0.1,0.4 --seeds 1,2,3 --out $R/sweep; }
worker() { for job in "$@"; do echo "--- $job ($(date -u +%T))"; $job; done; }
export -f xlr b1 b2 gen gbs gbl g1 g2 g3 ash sw_adv sw_rp worker
C_LIMIT=$(( DEADLINE - $(date +%s) - 20 ))
echo "phase C: $C_LIMIT s"
w=0
# one job list per worker (GPU_C_ORDERS, ';' between workers). The default puts what the comparison needs first
# (b1, its generalized evaluations, group_by_length's three seeds), then ADV with shared dropout masks, and the
# optional rows and sweeps after.
IFS=';' read -ra ORDERS <<< "${GPU_C_ORDERS:-b1 gen ash b2 sw_adv;b1 gen ash b2 sw_rp;b1 gen ash sw_adv b2;\
b1 gen ash sw_rp b2;g1 b1 gen ash b2 sw_adv;g2 b1 gen ash b2 sw_rp;g3 b1 gen ash sw_adv b2;b1 gen ash sw_rp b2}"
for order in "${ORDERS[@]}"; do
  w=$((w + 1))
  (( w > ${GPU_C_WORKERS:-8} )) && break
  timeout $C_LIMIT bash -c "worker $order" > "$LOG/e5-w$w.log" 2>&1 &
done
wait
echo "phase C stopped or finished at $(date -u +%T)"
find $R -name DONE | sed "s|$R/||; s|/DONE||" | sort > "$LOG/e5-done.txt"
echo "$(wc -l < "$LOG/e5-done.txt") e5 runs finished"
tar -czf "$OUT/gpu.tgz" --exclude=model --exclude=checkpoints --exclude=tokenized -C /tmp gpu-logs e5runs runs-quick 2>/dev/null
ls -la "$OUT"; echo "total $(( $(date +%s) - T0 )) s"
