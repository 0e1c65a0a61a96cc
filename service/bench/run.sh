#!/usr/bin/env bash
# Benchmark of the service's instrumentation cost: throughput, latency and peak
# memory with telemetry off / metrics only / metrics + traces, and /metrics scrape time.
#
# Usage: service/bench/run.sh            (from anywhere; writes a Markdown table to stdout)
# Env:   BENCH_DURATION=10s BENCH_ROUNDS=3 BENCH_CONNECTIONS=64 BENCH_THREADS=2 BENCH_PATH=/
#        BENCH_PORT=15000 BENCH_SINK_PORT=14317 BENCH_SAMPLED=1 (also run full-10%)
#        CARGO_TARGET_DIR (default: <repo>/target)
#
# Method: a release build; each mode runs as a fresh process, warmed up for 2 s, then loaded
# by wrk (keep-alive, BENCH_CONNECTIONS connections) for BENCH_DURATION. Modes are interleaved
# for BENCH_ROUNDS rounds and the median round per mode is reported, so slow drifts of the
# machine hit every mode alike. Peak RSS is VmHWM from /proc/PID/status after the load.
# Service CPU per request is the process's utime+stime (/proc/PID/stat, all threads, including
# the span exporter) over the measured run divided by the requests wrk completed: unlike req/s
# it barely moves when other processes compete for the two cores. wrk's CPU per request comes
# from bash's `time` (it grows when throughput drops: fewer requests per syscall); the OTLP sink's, like
# the service's, from /proc (it shares the cores, as a collector on the same host would).
# In the full mode every request is sampled (always_on) and exported over OTLP/gRPC to a
# real receiver (examples/otlp_sink.rs) on the same host. Scrape time is the median of 50
# sequential `GET /metrics` after the load, measured by curl's time_total.
set -euo pipefail
cd "$(dirname "$0")/../.."

duration=${BENCH_DURATION:-10s}
rounds=${BENCH_ROUNDS:-3}
connections=${BENCH_CONNECTIONS:-64}
threads=${BENCH_THREADS:-2}
path=${BENCH_PATH:-/}
port=${BENCH_PORT:-15000}
sink_port=${BENCH_SINK_PORT:-14317}
target=${CARGO_TARGET_DIR:-$PWD/target}

for tool in wrk curl; do
  if ! command -v "$tool" >/dev/null; then
    echo "bench: $tool is missing; install it with: sudo apt-get install -y $tool" >&2
    exit 1
  fi
done

cargo build --release --quiet -p service --bin service --example otlp_sink >&2
service_bin=$target/release/service
sink_bin=$target/release/examples/otlp_sink
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

wait_healthy() {
  local deadline=$((SECONDS + 20))
  until "$service_bin" healthcheck --url "http://127.0.0.1:$port/healthz" --timeout 1s 2>/dev/null; do
    ((SECONDS < deadline)) || { echo "bench: service did not become healthy" >&2; exit 1; }
    sleep 0.1
  done
}

"$sink_bin" "127.0.0.1:$sink_port" >"$work/sink.log" 2>&1 &
sink_pid=$!
pids+=("$sink_pid")

# run_mode MODE ROUND: prints "rps p50 p90 p99 hwm_kib scrape_ms"
run_mode() {
  local mode=$1 round=$2 telemetry=$1 sampler=always_on
  if [[ $mode == full-10% ]]; then telemetry=full sampler=traceidratio; fi
  OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$sink_port" OTEL_TRACES_SAMPLER=$sampler \
    OTEL_TRACES_SAMPLER_ARG=0.1 \
    "$service_bin" --listen "127.0.0.1:$port" --telemetry "$telemetry" --log-filter warn \
    >"$work/service-$mode-$round.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  wait_healthy
  wrk -t"$threads" -c"$connections" -d2s "http://127.0.0.1:$port$path" >"$work/warm-$mode-$round.txt"
  local cpu_before cpu_after sink_before sink_after
  cpu_before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  sink_before=$(awk '{print $14 + $15}' "/proc/$sink_pid/stat")
  # wrk's own CPU time (user+sys seconds), from bash's `time`.
  local wrk_cpu
  wrk_cpu=$( { TIMEFORMAT='%3U %3S'; time wrk -t"$threads" -c"$connections" -d"$duration" --latency \
    "http://127.0.0.1:$port$path" >"$work/wrk-$mode-$round.txt"; } 2>&1 | awk '{print $1 + $2}')
  cpu_after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  sink_after=$(awk '{print $14 + $15}' "/proc/$sink_pid/stat")
  local scrape_ms
  scrape_ms=$(for _ in $(seq 50); do
    curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$port/metrics"
  done | sort -n | awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)]*1000}')
  local hwm
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  kill -TERM "$pid"
  wait "$pid" || { echo "bench: service ($mode) exited non-zero" >&2; cat "$work/service-$mode-$round.log" >&2; exit 1; }
  awk -v hwm="$hwm" -v scrape="$scrape_ms" -v ticks=$((cpu_after - cpu_before)) -v sink_ticks=$((sink_after - sink_before)) -v hz="$(getconf CLK_TCK)" -v wrk_cpu="$wrk_cpu" '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /Requests\/sec/ {rps=$2}
    /requests in/ {requests=$1}
    $1=="50%" {p50=ms($2)} $1=="90%" {p90=ms($2)} $1=="99%" {p99=ms($2)}
    /Non-2xx/ {bad=$NF} /Socket errors/ {print "wrk: " $0 > "/dev/stderr"}
    END { if (bad) { print "non-2xx responses: " bad > "/dev/stderr"; exit 1 }
          printf "%s %.3f %.3f %.3f %s %s %.2f %.2f %.2f\n", rps, p50, p90, p99, hwm, scrape, ticks / hz / requests * 1e6, wrk_cpu / requests * 1e6, sink_ticks / hz / requests * 1e6 }' "$work/wrk-$mode-$round.txt"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
# full-10% (not a goal, for scale): traces on, but only 10% of traces sampled.
modes=(off metrics full)
[[ ${BENCH_SAMPLED:-1} == 1 ]] && modes+=(full-10%)
for round in $(seq "$rounds"); do
  for mode in "${modes[@]}"; do
    echo "bench: round $round/$rounds, telemetry=$mode" >&2
    run_mode "$mode" "$round" >>"$work/results-$mode"
  done
done
kill -TERM "$sink_pid"
wait "$sink_pid" || true
spans=$(awk '/received/ {print $2}' "$work/sink.log")

median_row() { sort -n -k1,1 "$work/results-$1" | awk -v n="$rounds" 'NR==int((n+1)/2)'; }
base_rps=$(median_row off | awk '{print $1}')
# Median over rounds of one column of results-MODE (7: service, 8: wrk, 9: OTLP sink CPU/req).
median_col() { awk -v c="$2" '{print $c}' "$work/results-$1" | sort -n | awk -v n="$rounds" 'NR==int((n+1)/2)'; }

echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(uname -sr)"
echo "load average (1/5/15 min) before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg) (other processes competing for the cores make req/s noisy; CPU/req much less so)"
echo "load: wrk -t$threads -c$connections -d$duration GET $path, median of $rounds interleaved rounds"
echo
echo "| telemetry | req/s | vs off | p50 ms | p90 ms | p99 ms | service CPU µs/req | wrk CPU µs/req | sink CPU µs/req | peak RSS MiB | /metrics scrape ms |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for mode in "${modes[@]}"; do
  service_cpu=$(median_col "$mode" 7) wrk_cpu=$(median_col "$mode" 8) sink_cpu=$(median_col "$mode" 9)
  median_row "$mode" | awk -v mode="$mode" -v base="$base_rps" -v scpu="$service_cpu" -v wcpu="$wrk_cpu" -v kcpu="$sink_cpu" '{
    printf "| %s | %.0f | %.3f | %.3f | %.3f | %.3f | %.2f | %.2f | %.2f | %.1f | %.3f |\n",
      mode, $1, $1/base, $2, $3, $4, scpu, wcpu, kcpu, $5/1024, $6 }'
done
echo
echo "all rounds (req/s, service CPU µs/req): $(for mode in "${modes[@]}"; do printf '%s=[%s] ' "$mode" "$(awk '{printf "%.0f/%.2f ", $1, $7}' "$work/results-$mode")"; done)"
full_requests=$(cat "$work"/warm-full-[0-9]* "$work"/wrk-full-[0-9]* | awk '/requests in/ {n+=$1} END {print n}')
# awk, not grep: a run that drops nothing must not fail the script under pipefail.
dropped=$(cat "$work"/service-full-[0-9]*.log | awk 'match($0, /dropped_span_count[^ ]*/) {
  count = substr($0, RSTART, RLENGTH); gsub(/[^0-9]/, "", count); n += count } END {print n+0}')
echo "full mode (every request sampled): $full_requests requests under wrk, $dropped spans dropped because the queue was full (service log)"
echo "spans received by the OTLP sink over all traced runs (full and full-10%, warm-ups included): ${spans:-unknown}"
