# Sourced by bench's shell scripts. `step NAME SECONDS COMMAND...` runs COMMAND with a time limit, logs its
# output and then its exit status to $OUT/NAME.log, and shows the log's last lines: a step that fails or runs
# out of time is recorded, and the next one starts.
step() {
  local name=$1 limit=$2
  shift 2
  echo "== $name (at most ${limit} s)"
  timeout "$limit" bash -c '"$@"' step "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  echo "rc $rc" >> "$OUT/$name.log"
  tail -n 12 "$OUT/$name.log"
}
