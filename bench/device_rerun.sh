#!/usr/bin/env bash
# Does this machine's device move a published result? Re-runs the baseline and RS-RP of the published
# PAWS-X set (results/pawsx-e5-cpu: the `cpu` profile on multilingual-e5-small, seeds 1-3) on whatever device
# xlr finds here, once as is and once with train.deterministic = true (each method's noise drawn on the CPU,
# so a seed draws the same noise on every device), and compares each re-run with the set.
#
#   DATA=DIR bash bench/device_rerun.sh [OUT]      # OUT defaults to bench/out/device-rerun
#
# DATA: the folder with pawsx/, train-en-small.tsv included (`xlr data export --out DATA/pawsx`, then
# `xlr data pawsx-cpu-train --out DATA/pawsx/train-en-small.tsv`). MODEL: the set's model (default: the cpu
# profile's, intfloat/multilingual-e5-small; offline, a local copy of it). XLR_ARGS: more flags for every run (a dry run: `--set train.max_train_examples=64`).
# Steps, each with its own time limit, each writing under OUT as it goes:
#   1. the runs as is, WORKERS workers sharing one store (OUT/as-is);
#   2. the same runs with train.deterministic = true (OUT/deterministic);
#   3. each published as its own set under OUT/results (no local path in it), and compared with
#      AGAINST (default results/pawsx-e5-cpu) and with each other: `xlr compare --against`, per method and
#      setting, Welch's interval over seeds, Holm across the cells.
# Copy a set from OUT/results into results/ and run `xlr results render` to put it on the results page.
set -u
OUT=${1:-bench/out/device-rerun}
DATA=${DATA:?set DATA to the folder that holds pawsx/ (see the top of this script)}
MODEL=${MODEL:-intfloat/multilingual-e5-small}
METHODS=${METHODS:-baseline,rs-rp}
SEEDS=${SEEDS:-1,2,3}
WORKERS=${WORKERS:-4}
AGAINST=${AGAINST:-results/pawsx-e5-cpu}
LIMIT=${LIMIT:-1800}
XLR_ARGS=${XLR_ARGS:-}
mkdir -p "$OUT"
# the re-run must load the weights the set was made with, or it compares two models, not two devices; the set
# also says which model that is (its name and what the weights are), for the re-run's own sets
against_model=$(python - "$MODEL" "$AGAINST" <<'EOF'
import sys
from pathlib import Path
from xlr.engine.preflight import fingerprint_folder
from xlr.errors import XlrError
from xlr.results import published
model, against = sys.argv[1], sys.argv[2]
try:
    pub = published.load(against)
except XlrError as e:
    sys.exit(f"error: {e}")
theirs = (pub.provenance.get("model_fingerprint") or {}).get("weights", "")
folder = Path(model).expanduser()
ours = "sha256:" + fingerprint_folder(folder) if (folder / "config.json").is_file() else ""
if theirs.startswith("sha256:") and ours != theirs:
    sys.exit(f"error: {against} was made with weights {theirs[:23]}, and MODEL={model} is "
             f"{ours[:23] or 'not a local folder'}; set MODEL to a folder with those weights (results.md says which)")
print(pub.rows[0]["model"].partition("@")[0])   # the name the set gives, without its fingerprint
print(pub.provenance.get("model_note") or "")
EOF
) || exit 2
MODEL_NAME=${against_model%%$'\n'*}
MODEL_NOTE=${against_model#*$'\n'}
CMD="xlr reproduce table1 --profile cpu --data-dir \$DATA --model E5_DIR --train-file \$DATA/pawsx/train-en-small.tsv \
--methods $METHODS --seeds $SEEDS --set generalized=true"

. "$(dirname "$0")/steps.sh"   # step NAME SECONDS COMMAND...

reproduce() {  # reproduce STORE [extra flags]: table1's runs of the set's methods and seeds, into STORE
  local store=$1
  shift
  xlr reproduce table1 --profile cpu --data-dir "$DATA" --model "$MODEL" \
    --train-file "$DATA/pawsx/train-en-small.tsv" --methods "$METHODS" --seeds "$SEEDS" \
    --set generalized=true --out "$store" ${XLR_ARGS:-} "$@"
}

runs() {  # runs STORE [extra flags]: WORKERS workers of the same command on one store, then its table
  local i
  for i in $(seq "$WORKERS"); do
    reproduce "$@" > "$1.worker$i.log" 2>&1 &
  done
  wait
  reproduce "$@"    # every run is done by now: prints the table
}

publish() {  # publish NAME STORE WHAT
  xlr results publish "$2/table1-cpu" --name "$1" --into "$OUT/results" --force \
    --model-name "$MODEL_NAME" ${MODEL_NOTE:+--model-note "$MODEL_NOTE"} --command "$CMD $3"
}

export OUT DATA MODEL METHODS SEEDS WORKERS CMD XLR_ARGS MODEL_NAME MODEL_NOTE
export -f reproduce runs publish
mkdir -p "$OUT/as-is" "$OUT/deterministic"
step as-is "$LIMIT" runs "$OUT/as-is"
step deterministic "$LIMIT" runs "$OUT/deterministic" --set train.deterministic=true
step publish-as-is 600 publish device-as-is "$OUT/as-is" ""
step publish-deterministic 600 publish device-deterministic "$OUT/deterministic" "--set train.deterministic=true"
for set in as-is deterministic; do
  step "compare-$set" 300 xlr compare "$OUT/results/device-$set" --against "$AGAINST" --format markdown
done
step compare-deterministic-as-is 300 xlr compare "$OUT/results/device-deterministic" \
  --against "$OUT/results/device-as-is" --format markdown
