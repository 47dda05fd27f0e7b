#!/usr/bin/env bash
# Start-to-ready time and idle memory of the embedded default (`gatehouse server` with no
# configuration: SQLite, generated secrets). Prints figures; asserts nothing.
#
#   bench/startup.sh [RUNS]      (default 5 runs of the warm start)
#
# Uses MAS's default ports, 8080 and 8081, which must be free.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
cargo build --release --locked --quiet
bin=$PWD/target/release/gatehouse
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
pid=

now_ms() { date +%s%3N; }

# Start the server in $work and wait until /health answers; sets $pid and $elapsed (ms).
start_and_wait() {
    local t0
    t0=$(now_ms)
    (cd "$work" && exec "$bin" server >/dev/null 2>&1) &
    pid=$!
    until curl -fsS -o /dev/null http://127.0.0.1:8081/health 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || { echo "server exited; is port 8080/8081 free?" >&2; exit 1; }
        sleep 0.002
    done
    elapsed=$(($(now_ms) - t0))
}

stop() {
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
}

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

start_and_wait
first=$elapsed
stop
warm=()
for _ in $(seq "$runs"); do
    start_and_wait
    warm+=("$elapsed")
    stop
done
start_and_wait
sleep 2
idle=$(rss_kib "$pid")
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
stop

sorted=$(printf '%s\n' "${warm[@]}" | sort -n)
median=$(echo "$sorted" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "gatehouse embedded default (SQLite), release build, $(nproc) cores"
printf '%-44s %8s\n' "first start (creates config, keys, DB)" "${first} ms"
printf '%-44s %8s\n' "warm start to /health, median of $runs" "${median} ms"
printf '%-44s %8s\n' "warm starts (ms)" "$(echo $sorted | tr ' ' ',')"
printf '%-44s %8s\n' "idle RSS after 2 s" "$((idle / 1024)) MiB (${idle} KiB)"
printf '%-44s %8s\n' "peak RSS (VmHWM)" "$((hwm / 1024)) MiB"
