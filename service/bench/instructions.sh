#!/usr/bin/env bash
# Instructions per request of the service's router with telemetry off / metrics / full,
# in-process (no sockets), counted by valgrind's callgrind: unlike req/s or CPU time, the
# count barely moves when other processes compete for the cores.
#
# Usage: service/bench/instructions.sh     (needs valgrind: sudo apt-get install -y valgrind)
# Env:   BENCH_REQUESTS=10000 BENCH_MODES="off metrics full defaults" BENCH_SINK_PORT=14400
#        CARGO_TARGET_DIR (default: <repo>/target)
#
# Method: examples/overhead.rs runs N and then 3N requests (each after a warm-up of a tenth),
# exporting every span (full mode) to examples/otlp_sink.rs; the difference of the two totals
# divided by the difference in requests is the marginal cost of one request, start-up and
# shutdown cancelled. The sink runs outside valgrind and is not counted.
set -euo pipefail
cd "$(dirname "$0")/../.."

requests=${BENCH_REQUESTS:-10000}
sink_port=${BENCH_SINK_PORT:-14400}
target=${CARGO_TARGET_DIR:-$PWD/target}
command -v valgrind >/dev/null || { echo "bench: valgrind is missing; install it with: sudo apt-get install -y valgrind" >&2; exit 1; }

cargo build --release --quiet -p service --example overhead --example otlp_sink >&2
work=$(mktemp -d)
"$target/release/examples/otlp_sink" "127.0.0.1:$sink_port" >"$work/sink.log" 2>&1 &
sink_pid=$!
trap 'kill "$sink_pid" 2>/dev/null || true; rm -rf "$work"' EXIT

# instructions MODE N: total instructions of one run
instructions() {
  valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
    "$target/release/examples/overhead" "$1" "$2" "http://127.0.0.1:$sink_port" 2>&1 >/dev/null |
    awk '/Collected/ {print $4}'
}

echo "| telemetry | instructions/request |"
echo "|---|---|"
read -r -a modes <<<"${BENCH_MODES:-off metrics full defaults}"
for mode in "${modes[@]}"; do
  small=$(instructions "$mode" "$requests")
  large=$(instructions "$mode" $((3 * requests)))
  # Each run also makes a tenth of its requests as warm-up.
  echo "| $mode | $(( (large - small) / (2 * requests + 2 * requests / 10) )) |"
done
