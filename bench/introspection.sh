#!/usr/bin/env bash
# Token introspection and compat password login under load, on SQLite and PostgreSQL.
# Prints figures; asserts nothing. Needs wrk (Debian package `wrk`; installed when missing and
# root). PostgreSQL: GATEHOUSE_TEST_POSTGRES_URL, or a throwaway cluster is started.
#
#   bench/introspection.sh [sqlite|postgres|both]     (default both)
#
# Knobs (environment): TOKENS=100000 DURATION=20 CONNECTIONS=64 LOGIN_CONNECTIONS=16
#                      CACHE_TTL=60 (experimental.introspection_cache_ttl, default 60; 0 = every request hits the DB)
#                      PAUSE_MS=2.8 (the paced run: each of the 64 connections waits this long between
#                      requests, about 20,000 req/s in all; its line gives the rate reached)
#                      BIN=… SEED=… (compare another build: its gatehouse binary and its
#                      seed_compat_tokens example; nothing is built then)
set -euo pipefail
cd "$(dirname "$0")/.."
which_db=${1:-both}
TOKENS=${TOKENS:-100000}
DURATION=${DURATION:-20}
CONNECTIONS=${CONNECTIONS:-64}
LOGIN_CONNECTIONS=${LOGIN_CONNECTIONS:-16}
CACHE_TTL=${CACHE_TTL:-60}
PAUSE_MS=${PAUSE_MS:-2.8}
PASSWORD=bench-password-not-secret
SHARED_SECRET=bench-shared-secret
export PASSWORD SHARED_SECRET

command -v wrk >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null; } || { echo "install wrk" >&2; exit 1; }
if [ -n "${BIN:-}" ]; then
    # Another build to compare with (A/B): its server and its seeding example.
    bin=$BIN seed=${SEED:?SEED: the seed_compat_tokens example built with BIN}
else
    cargo build --release --locked --quiet --bin gatehouse --example seed_compat_tokens
    bin=$PWD/target/release/gatehouse
    seed=$PWD/target/release/examples/seed_compat_tokens
fi
work=$(mktemp -d)
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    rm -rf "$work"
    type gatehouse_pg_stop >/dev/null 2>&1 && gatehouse_pg_stop
    true
}
trap cleanup EXIT

# shellcheck source=bench/common.sh
source bench/common.sh
# Resident memory of a process: its own (anonymous) pages, and the file pages it maps. SQLite
# maps the database file once per connection (PRAGMA mmap_size), so file pages shared with the
# page cache are counted once per connection in RSS although they are in memory once.
memory() {
    awk '/^RssAnon/ {anon = $2} /^RssFile/ {file = $2} /^VmRSS/ {rss = $2}
         END {printf "%d MiB (anon %d MiB, mapped file %d MiB)", rss / 1024, anon / 1024, file / 1024}' "/proc/$1/status"
}

run_one() {
    local backend=$1 db_url config_uri dir=$work/$1
    mkdir -p "$dir"
    case $backend in
        sqlite)
            db_url="sqlite://$dir/gatehouse.db?mode=rwc"
            config_uri="sqlite://$dir/gatehouse.db" ;;
        postgres)
            if [ -z "${GATEHOUSE_TEST_POSTGRES_URL:-}" ]; then
                # shellcheck source=scripts/throwaway-postgres.sh
                source scripts/throwaway-postgres.sh
                gatehouse_pg_start
            fi
            local name="gatehouse_bench_$RANDOM$RANDOM"
            psql "$GATEHOUSE_TEST_POSTGRES_URL" -qc "CREATE DATABASE $name" >/dev/null
            db_url="${GATEHOUSE_TEST_POSTGRES_URL%/*}/$name"
            config_uri=$db_url ;;
    esac
    "$seed" "$db_url" "$TOKENS" "$dir/tokens.txt" "$PASSWORD"
    local port
    port=$(free_port)
    "$bin" config generate > "$dir/base.yaml"
    cat > "$dir/bench.yaml" <<YAML
database:
  uri: "$config_uri"
  max_connections: 8
matrix:
  kind: synapse_read_only
  secret: $SHARED_SECRET
  endpoint: http://127.0.0.1:9/
experimental:
  introspection_cache_ttl: $CACHE_TTL
rate_limiting:
  login:
    per_ip: {burst: 1000000, per_second: 1000000}
    per_account: {burst: 1000000, per_second: 1000000}
YAML
    python3 - "$dir/base.yaml" "$port" <<'PY'
import sys
path, port = sys.argv[1], sys.argv[2]
text = open(path).read()
# Replace the generated listeners with one loopback listener for the benchmark.
lines = text.split("\n")
out, skipping = [], False
for line in lines:
    if line.startswith("  listeners:"):
        out.append("  listeners:")
        out.append("  - name: bench")
        out.append("    resources: [{name: oauth}, {name: compat}, {name: health}]")
        out.append(f"    binds: [{{address: '127.0.0.1:{port}'}}]")
        skipping = True
        continue
    if skipping and (line.startswith("  - ") or line.startswith("    ")):
        continue
    skipping = False
    out.append(line)
open(path, "w").write("\n".join(out))
PY
    RUST_LOG=warn "$bin" -c "$dir/base.yaml" -c "$dir/bench.yaml" server --no-worker >"$dir/server.log" 2>&1 &
    server=$!
    until curl -fsS -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null; do
        kill -0 "$server" 2>/dev/null || { cat "$dir/server.log" >&2; exit 1; }
        sleep 0.05
    done
    local url="http://127.0.0.1:$port"
    # introspect THREADS CONNECTIONS [SECONDS]: one wrk run over the tokens (paced when
    # PAUSE_MS is set for it), its result line. run_logins: one run of compat logins.
    introspect() {
        TOKENS_FILE=$dir/tokens.txt wrk -t"$1" -c"$2" -d"${3:-$DURATION}s" -s bench/introspect.lua "$url" | result
    }
    run_logins() {
        # A login waits as long as a client would (wrk's own default gives up after 2 s and
        # leaves the slowest out of the latencies).
        USERS=$TOKENS wrk -t1 -c"$LOGIN_CONNECTIONS" -d"${DURATION}s" --timeout 30s -s bench/login.lua "$url" | result
    }
    introspect 2 "$CONNECTIONS" 3 >/dev/null
    local introspection paced per_request before_server before_pg pg=()
    # Server CPU per request of the flat-out run: Gatehouse, and every `postgres` process on the
    # machine (its background writers too) on PostgreSQL.
    [ "$backend" = postgres ] && mapfile -t pg < <(pgrep -x postgres || true)
    before_server=$(cpu_seconds "$server")
    before_pg=$(cpu_seconds "${pg[@]}")
    introspection=$(introspect 2 "$CONNECTIONS")
    per_request=$(python3 -c "
n = max(int('$(sed 's/.*requests=\([0-9]*\).*/\1/' <<<"$introspection")'), 1)
s = ($(cpu_seconds "$server") - $before_server) * 1e6 / n
p = ($(cpu_seconds "${pg[@]}") - $before_pg) * 1e6 / n
print(f'{s + p:.1f} µs (gatehouse {s:.1f} µs, database server {p:.1f} µs)')")
    # The same connections at a steady rate of about 20,000 req/s rather than flat out.
    paced=$(PAUSE_MS=$PAUSE_MS introspect 2 "$CONNECTIONS")
    local idle_rss alone32
    idle_rss=$(memory "$server")
    # The same load as during the logins below, alone, to compare with.
    alone32=$(introspect 1 32)
    # The same loads beside two busy loops at the lowest priority (SCHED_IDLE, which password
    # hashing also runs at): on this kind of machine any CPU-bound work running beside
    # introspection raises its p99, whatever the priority; this is the floor to compare the
    # "during logins" lines with.
    local busy=() floor paced_floor
    for _ in 1 2; do
        if command -v chrt >/dev/null; then
            chrt -i 0 bash -c 'while :; do :; done' &
        else
            nice -n 19 bash -c 'while :; do :; done' &
        fi
        busy+=($!)
    done
    floor=$(introspect 1 32)
    paced_floor=$(PAUSE_MS=$PAUSE_MS introspect 2 "$CONNECTIONS")
    kill "${busy[@]}"; wait "${busy[@]}" 2>/dev/null || true
    # Logins alone, then logins with introspection traffic at the same time.
    local logins both_logins both_introspection
    logins=$(run_logins)
    introspect 1 32 >"$dir/both-introspection" &
    local other=$!
    both_logins=$(run_logins)
    wait "$other"
    both_introspection=$(cat "$dir/both-introspection")
    # The steady rate of the paced run above, while logins run flat out: what Synapse's traffic
    # sees while users log in.
    local paced_logins both_paced
    PAUSE_MS=$PAUSE_MS introspect 2 "$CONNECTIONS" >"$dir/both-paced" &
    other=$!
    paced_logins=$(run_logins)
    wait "$other"
    both_paced=$(cat "$dir/both-paced")
    local rss hwm
    rss=$(memory "$server")
    hwm=$(awk '/^VmHWM/ {print int($2 / 1024)}' "/proc/$server/status")
    kill "$server"; wait "$server" 2>/dev/null || true; server=
    echo "== $backend: $TOKENS tokens, $(nproc) cores, ${DURATION}s runs, introspection cache TTL ${CACHE_TTL}s"
    echo "introspection, $CONNECTIONS connections:        $introspection"
    echo "  server CPU per request: $per_request"
    echo "introspection, $CONNECTIONS connections, paced: $paced"
    echo "compat logins (argon2id), $LOGIN_CONNECTIONS connections: $logins"
    echo "  logins while introspecting:            $both_logins"
    echo "introspection, $CONNECTIONS connections, paced, during logins: $both_paced"
    echo "  logins meanwhile:                      $paced_logins"
    echo "  paced beside two idle-priority busy loops instead: $paced_floor"
    echo "introspection, 32 connections, no logins:  $alone32"
    echo "  beside two idle-priority busy loops:    $floor"
    echo "  introspection (32 conns) during logins: $both_introspection"
    echo "server RSS: after introspection $idle_rss; after logins $rss; peak $hwm MiB (anon + file)"
}

case $which_db in
    sqlite|postgres) run_one "$which_db" ;;
    both) run_one sqlite; run_one postgres ;;
    *) echo "usage: bench/introspection.sh [sqlite|postgres|both]" >&2; exit 2 ;;
esac
