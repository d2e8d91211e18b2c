#!/usr/bin/env bash
# The robust-training evidence on a real encoder (multilingual-e5-small, CPU), in phases (on a GPU the
# same commands, with --set train.precision=fp32 and several workers, take minutes):
#   sweep    radii and learning rate chosen on ENGLISH DEV only (xlr sweep; seeds 1, 2, 3)
#   compare  every method on 3 seeds at the chosen settings, test on all 7 PAWS-X languages, then
#            paired-bootstrap intervals against the baseline, the generalized setting, lang2vec distance
#   beyond   optional rows beyond the paper (FreeLB, R3F) on the same budget and seeds
# Every run lives in the run store and resumes after an interruption, so the script can be stopped and
# started again at will. Start it twice (two workers, one core each) to use both cores of a 2-core machine:
#   XLR_BENCH_RUNS=/path/to/runs bash bench/robust_cpu.sh sweep & XLR_BENCH_RUNS=... bash bench/robust_cpu.sh sweep &
# Logs: pass them yourself (e.g. > bench/out/robust-sweep-1.log 2>&1). The numbers: docs/results-pawsx-e5.md, docs/choosing-defaults.md.
set -euo pipefail
cd "$(dirname "$0")/.."
phase=${1:-all}
export XLR_THREADS=${XLR_THREADS:-1}          # one core per worker: two workers never oversubscribe 2 cores
OUT=${XLR_BENCH_RUNS:-bench/out/runs}
DATA=${XLR_BENCH_DATA:-data}                   # the layout `xlr data export` writes
E5=$(python3 -c "import sys; sys.path.insert(0, 'bench'); from common import e5_folder; print(e5_folder())")  # bench/common.py
COMMON=(--profile cpu --model "$E5" --data-dir "$DATA" --train-file "$DATA/pawsx/train-en-small.tsv" --out "$OUT")

if [[ $phase == sweep || $phase == all ]]; then
  xlr sweep table1 "${COMMON[@]}" --methods adv --grid epsilon=0.005,0.01,0.02,0.05 --seeds 1,2,3
  xlr sweep table1 "${COMMON[@]}" --methods rs-rp --grid epsilon=0.1,0.2,0.4,0.8 --seeds 1,2,3
  xlr sweep table1 "${COMMON[@]}" --methods baseline --grid train.learning_rate=5e-5,1e-4 --seeds 1,2,3
fi
if [[ $phase == compare || $phase == all ]]; then
  xlr reproduce table1 "${COMMON[@]}" --seeds 1,2,3 --synonyms "$DATA/counterfitted_neighbors.json" --format markdown
  xlr reproduce bench/pawsx_generalized.toml "${COMMON[@]}" --seeds 1,2,3 --synonyms "$DATA/counterfitted_neighbors.json" --format markdown
  for m in adv rs-rp rs-da; do
    xlr compare --between baseline "$m" "$OUT/table1-cpu" --format markdown
    xlr compare --between baseline "$m" "$OUT/table1-cpu" --setting generalized --format markdown
  done
  # group_by_length: the baseline again, length-grouped, in its own store (compare by copying its runs
  # beside the baseline's under another method folder name, as docs/choosing-defaults.md shows)
  xlr reproduce table1 "${COMMON[@]}" --seeds 1,2,3 --methods baseline --set train.group_by_length=true \
      --out "$OUT-grouped" --format markdown
  xlr analyze distance "$OUT/table1-cpu" --format markdown
fi
# optional rows beyond the paper (FreeLB, R3F): the same budget and seeds, in the same store, so that
# `xlr compare --between baseline freelb` pairs them with the baseline's runs
if [[ $phase == beyond ]]; then
  xlr reproduce table1 "${COMMON[@]}" --seeds 1,2,3 --methods baseline,freelb,r3f --format markdown
  for m in freelb r3f; do
    xlr compare --between baseline "$m" "$OUT/table1-cpu" --format markdown
  done
fi
