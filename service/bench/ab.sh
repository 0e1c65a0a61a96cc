#!/usr/bin/env bash
# Whether a change pays on the benchmark's load: two builds of the service, A (the plain
# version) and B (the change), interleaved round by round under the load of run.sh, each
# exporting every span to the same live receiver. Prints each round and the medians.
#
# Usage: service/bench/ab.sh A_BINARY B_BINARY     (needs wrk and curl)
#   e.g. git stash; cargo build --release -p service; cp target/release/service /tmp/plain
#        git stash pop; cargo build --release -p service
#        service/bench/ab.sh /tmp/plain target/release/service
# Env:   BENCH_ROUNDS=7 BENCH_DURATION=8s BENCH_FLAGS="--access-log off" (the mode, as service
#        flags) BENCH_CONNECTIONS=32 BENCH_PATH=/ BENCH_PORT=15000 BENCH_SINK_PORT=14317
#
# Method as in run.sh: a fresh process per round, 2 s of warm-up, then the server's CPU time
# (utime + stime, /proc/PID/stat) over the measured run divided by the requests completed.
set -euo pipefail
(($# == 2)) || { sed -n '6,9p' "$0" >&2; exit 2; }
for binary in "$1" "$2"; do
  [[ -x $binary && -f $binary ]] || { echo "bench: $binary is not an executable" >&2; exit 1; }
done
binaries=("$(realpath "$1")" "$(realpath "$2")")
cd "$(dirname "$0")/../.."

rounds=${BENCH_ROUNDS:-7}
duration=${BENCH_DURATION:-8s}
read -r -a flags <<<"${BENCH_FLAGS---access-log off}"
connections=${BENCH_CONNECTIONS:-32}
path=${BENCH_PATH:-/}
port=${BENCH_PORT:-15000}
sink_port=${BENCH_SINK_PORT:-14317}
target=${CARGO_TARGET_DIR:-$PWD/target}

for tool in wrk curl; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing; install it with: sudo apt-get install -y $tool" >&2; exit 1; }
done

cargo build --release --quiet -p service --example otlp_sink >&2
work=$(mktemp -d)
sink_pid=
server_pid=
cleanup() {
  for pid in $sink_pid $server_pid; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
"$target/release/examples/otlp_sink" "127.0.0.1:$sink_port" >"$work/sink.log" 2>&1 &
sink_pid=$!

# cpu_per_request BINARY: one round; prints the server's CPU µs per request.
cpu_per_request() {
  OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$sink_port" \
    "$1" --listen "127.0.0.1:$port" "${flags[@]}" >"$work/server.log" 2>&1 &
  local pid=$!
  server_pid=$pid
  local deadline=$((SECONDS + 20))
  until curl -sf -o /dev/null "http://127.0.0.1:$port$path"; do
    if ((SECONDS >= deadline)) || ! kill -0 "$pid" 2>/dev/null; then
      echo "bench: $1 did not answer" >&2
      cat "$work/server.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  wrk -t1 -c"$connections" -d2s "http://127.0.0.1:$port$path" >/dev/null
  local before after requests
  before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  wrk -t1 -c"$connections" -d"$duration" "http://127.0.0.1:$port$path" >"$work/wrk.txt"
  after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  server_pid=
  if grep -qE 'Non-2xx|Socket errors' "$work/wrk.txt"; then
    echo "bench: $1 answered with errors:" >&2
    cat "$work/wrk.txt" >&2
    exit 1
  fi
  requests=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
  awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$requests" \
    'BEGIN { printf "%.2f\n", ticks / hz / n * 1e6 }'
}

for round in $(seq "$rounds"); do
  # A first in odd rounds, B first in even ones: what running first or
  # second does cancels out.
  order=(0 1)
  ((round % 2)) || order=(1 0)
  for side in "${order[@]}"; do
    cpu_per_request "${binaries[side]}" >>"$work/side-$side"
  done
  echo "bench: round $round/$rounds: A $(tail -1 "$work/side-0") µs, B $(tail -1 "$work/side-1") µs" >&2
done

median() { sort -n "$1" | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
a=$(median "$work/side-0")
b=$(median "$work/side-1")
echo "load: wrk -t1 -c$connections -d$duration GET $path; service flags: ${flags[*]:-(none)}; $rounds interleaved rounds"
echo "A ${binaries[0]}: $(paste -sd' ' "$work/side-0") µs/request, median $a"
echo "B ${binaries[1]}: $(paste -sd' ' "$work/side-1") µs/request, median $b"
# Other work on the machine drifts between rounds; the two sides of one round share it.
paste "$work/side-0" "$work/side-1" | awk '{print $1 - $2}' >"$work/diff"
paired=$(median "$work/diff")
awk -v a="$a" -v b="$b" -v paired="$paired" \
  'BEGIN { printf "B saves %.2f µs of CPU per request (difference of the medians), %.2f (median of the rounds'"'"' differences)\n", a - b, paired }'
