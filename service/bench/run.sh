#!/usr/bin/env bash
# What the instrumentation costs, side by side in one run: a bare axum hello-world, the
# service in each telemetry mode and with its defaults, and two conventional peers
# (examples/peer.rs: tower-http TraceLayer + tracing-opentelemetry + opentelemetry-otlp +
# opentelemetry-prometheus + a fmt access log; and the same with axum-tracing-opentelemetry's
# layers making the span, as its README shows), all exporting to the same live OTLP/gRPC
# receiver (examples/otlp_sink.rs) on this host. Prints a Markdown table.
#
# Usage: service/bench/run.sh      (needs wrk and curl: sudo apt-get install -y wrk curl)
# Env:   BENCH_DURATION=10s BENCH_ROUNDS=5 BENCH_CONNECTIONS=32 BENCH_THREADS=1 BENCH_PATH=/
#        BENCH_PORT=15000 BENCH_SINK_PORT=14317 BENCH_MODES="bare off metrics full defaults peer peer-otel-axum"
#        CARGO_TARGET_DIR (default: <repo>/target)
#
# Method: each mode is a fresh server process with its stdout (the log) going to a file.
# wrk warms it up for 2 s, then measures; the server's CPU time (utime + stime of all its
# threads, /proc/PID/stat) over the measured run divided by the requests completed is its
# CPU per request. The modes run interleaved, BENCH_ROUNDS times; the table shows each
# mode's median round (by CPU per request). Spans: the receiver's count before and after
# a mode (the server is stopped first, so its last spans are flushed). Spans dropped: the
# service's own count (otel_sdk_processor_span_processed_total{error_type="queue_full"});
# for the peers, whose SDK drops silently, the requests wrk made minus the spans received.
set -euo pipefail
cd "$(dirname "$0")/../.."

duration=${BENCH_DURATION:-10s}
rounds=${BENCH_ROUNDS:-5}
connections=${BENCH_CONNECTIONS:-32}
threads=${BENCH_THREADS:-1}
path=${BENCH_PATH:-/}
port=${BENCH_PORT:-15000}
sink_port=${BENCH_SINK_PORT:-14317}
read -r -a modes <<<"${BENCH_MODES:-bare off metrics full defaults peer peer-otel-axum}"
target=${CARGO_TARGET_DIR:-$PWD/target}
endpoint="http://127.0.0.1:$sink_port"

for tool in wrk curl; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing; install it with: sudo apt-get install -y $tool" >&2; exit 1; }
done

cargo build --release --quiet -p service --bin service --example otlp_sink --example bare_axum --example peer >&2
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

"$target/release/examples/otlp_sink" "127.0.0.1:$sink_port" >"$work/sink.log" 2>&1 &
sink_pid=$!
pids+=("$sink_pid")

# Spans the receiver has counted so far.
sink_spans() { awk '/^spans / {n = $2} END {print n + 0}' "$work/sink.log"; }

# start MODE LOG: starts the server of MODE, prints its pid.
start() {
  local mode=$1 log=$2 service=$target/release/service
  local -a args=(--listen "127.0.0.1:$port")
  case $mode in
    bare) "$target/release/examples/bare_axum" "127.0.0.1:$port" >"$log" 2>&1 & ;;
    peer) "$target/release/examples/peer" trace-layer "127.0.0.1:$port" "$endpoint" >"$log" 2>&1 & ;;
    peer-otel-axum) "$target/release/examples/peer" otel-axum "127.0.0.1:$port" "$endpoint" >"$log" 2>&1 & ;;
    off | metrics) "$service" "${args[@]}" --telemetry "$mode" --access-log off >"$log" 2>&1 & ;;
    full) OTEL_EXPORTER_OTLP_ENDPOINT=$endpoint "$service" "${args[@]}" --access-log off >"$log" 2>&1 & ;;
    defaults) OTEL_EXPORTER_OTLP_ENDPOINT=$endpoint "$service" "${args[@]}" >"$log" 2>&1 & ;;
    *) echo "bench: unknown mode $mode" >&2; exit 1 ;;
  esac
  echo $!
}

# run_mode MODE ROUND: appends "cpu_us rps p50 p99 requests dropped sink_us" to results-MODE
run_mode() {
  local mode=$1 round=$2 log=$work/$1-$2.log
  local pid
  pid=$(start "$mode" "$log")
  pids+=("$pid")
  local deadline=$((SECONDS + 20))
  until curl -sf -o /dev/null "http://127.0.0.1:$port$path"; do
    ((SECONDS < deadline)) || { echo "bench: $mode did not answer" >&2; cat "$log" >&2; exit 1; }
    sleep 0.1
  done
  local spans_before
  spans_before=$(sink_spans)
  wrk -t"$threads" -c"$connections" -d2s "http://127.0.0.1:$port$path" >"$work/warm-$mode-$round.txt"
  local cpu_before sink_before cpu_after sink_after
  cpu_before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  sink_before=$(awk '{print $14 + $15}' "/proc/$sink_pid/stat")
  wrk -t"$threads" -c"$connections" -d"$duration" --latency "http://127.0.0.1:$port$path" >"$work/wrk-$mode-$round.txt"
  cpu_after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  sink_after=$(awk '{print $14 + $15}' "/proc/$sink_pid/stat")
  local requests dropped=-
  requests=$(cat "$work/warm-$mode-$round.txt" "$work/wrk-$mode-$round.txt" | awk '/requests in/ {n += $1} END {print n}')
  case $mode in
    # The service counts the spans its full queue drops.
    full | defaults) dropped=$(curl -s "http://127.0.0.1:$port/metrics" |
      awk '/^otel_sdk_processor_span_processed_total/ && /queue_full/ {print $NF}') ;;
  esac
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  # The server flushed its last spans on the way out; wait until the receiver has them.
  local spans=-1 settled=0
  while ((settled < 5)); do
    local now
    now=$(sink_spans)
    if ((now == spans)); then settled=$((settled + 1)); else settled=0 spans=$now; fi
    sleep 0.2
  done
  spans=$((spans - spans_before))
  # The peers' SDK drops silently: what did not arrive was dropped.
  [[ $mode == peer* ]] && dropped=$((requests - spans))
  awk -v ticks=$((cpu_after - cpu_before)) -v sink_ticks=$((sink_after - sink_before)) -v hz="$(getconf CLK_TCK)" \
    -v all="$requests" -v dropped="$dropped" -v spans="$spans" '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /Requests\/sec/ {rps=$2}
    /requests in/ {measured=$1}
    $1=="50%" {p50=ms($2)} $1=="99%" {p99=ms($2)}
    /Non-2xx/ {print "bench: non-2xx responses: " $NF > "/dev/stderr"; exit 1}
    END { printf "%.2f %.0f %.3f %.3f %d %s %.2f %d\n", ticks / hz / measured * 1e6, rps, p50, p99, all, dropped, sink_ticks / hz / measured * 1e6, spans }' \
    "$work/wrk-$mode-$round.txt" >>"$work/results-$mode"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq "$rounds"); do
  for mode in "${modes[@]}"; do
    echo "bench: round $round/$rounds, $mode" >&2
    run_mode "$mode" "$round"
  done
done

median() { sort -n -k1,1 "$work/results-$1" | awk -v n="$rounds" 'NR == int((n + 1) / 2)'; }
base=$(median "${modes[0]}" | awk '{print $1, $2}')
# CPU per request of a mode's median round, empty when the mode did not run.
cpu_of() { [[ -f $work/results-$1 ]] && median "$1" | awk '{print $1}'; }
# `--telemetry off` is the same hardened server with nothing instrumented:
# against it, a mode's ratio is what the instrumentation alone costs.
off_cpu=$(cpu_of off || true)
describe() {
  case $1 in
    bare) echo "bare axum hello-world" ;;
    off) echo "service \`--telemetry off\`" ;;
    metrics) echo "service metrics only (\`--telemetry metrics --access-log off\`)" ;;
    full) echo "service full, access log off (\`--access-log off\`)" ;;
    defaults) echo "service with its defaults (full + access log)" ;;
    peer) echo "conventional peer, TraceLayer (\`examples/peer.rs trace-layer\`)" ;;
    peer-otel-axum) echo "conventional peer, axum-tracing-opentelemetry (\`examples/peer.rs otel-axum\`)" ;;
  esac
}

echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(uname -sr)"
echo "load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "load: wrk -t$threads -c$connections -d$duration GET $path; $rounds interleaved rounds, median round by CPU per request; every trace exported to one OTLP/gRPC receiver"
echo
echo "| mode | CPU µs/req | CPU vs ${modes[0]} | CPU vs off | req/s | req/s vs ${modes[0]} | p50 ms | p99 ms | requests | spans received | spans dropped | receiver CPU µs/req |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for mode in "${modes[@]}"; do
  median "$mode" | awk -v name="$(describe "$mode")" -v base="$base" -v off="$off_cpu" '
    BEGIN { split(base, b, " ") }
    { vs_off = off == "" ? "-" : sprintf("%.2f", $1 / off)
      printf "| %s | %.2f | %.2f | %s | %.0f | %.2f | %.3f | %.3f | %d | %d | %s | %.2f |\n", name, $1, $1 / b[1], vs_off, $2, $2 / b[2], $3, $4, $5, $8, $6, $7 }'
done
defaults_cpu=$(cpu_of defaults || true)
summary=
for peer in peer peer-otel-axum; do
  peer_cpu=$(cpu_of "$peer" || true)
  if [[ -n $peer_cpu && -n $defaults_cpu ]]; then
    summary+=$(awk -v name="$(describe "$peer")" -v peer="$peer_cpu" -v service="$defaults_cpu" \
      'BEGIN { printf "%s over the service with its defaults: %.2fx the CPU per request\\n", name, peer / service }')
  fi
done
[[ -z $summary ]] || printf '\n%b' "$summary"
# The modes of one round share whatever else the machine is doing, which
# drifts between rounds: a ratio taken within each round is steadier than
# the ratio of two medians taken from different rounds.
# paired A B: A's CPU over B's in each round, and their median.
paired() {
  [[ -f $work/results-$1 && -f $work/results-$2 ]] || return 0
  local ratios
  ratios=$(paste "$work/results-$1" "$work/results-$2" | awk '{printf "%.2f\n", $1 / $9}')
  printf '  %s over %s: %s, median %s\n' "$1" "$2" "$(paste -sd' ' <<<"$ratios")" \
    "$(sort -n <<<"$ratios" | awk '{v[NR] = $1} END {printf "%.2f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')"
}
echo
echo "CPU ratios within each round (round 1, 2, ...), and their median:"
for mode in "${modes[@]:1}"; do
  [[ $mode == peer* ]] || paired "$mode" "${modes[0]}"
done
paired peer defaults
paired peer-otel-axum defaults
echo
echo "all rounds (CPU µs/req / req/s / dropped):"
for mode in "${modes[@]}"; do
  printf '  %s: %s\n' "$mode" "$(awk '{printf "%s/%s/%s  ", $1, $2, $6}' "$work/results-$mode")"
done
