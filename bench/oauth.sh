#!/usr/bin/env bash
# The OAuth 2.0 token endpoint under load, on PostgreSQL (or SQLite): CLIENTS clients, each
# refreshing its own rotating refresh-token chain as fast as it is answered; then introspection
# of OAuth 2.0 (`mat_`) access tokens beside compat (`mct_`) ones at the same load. Prints
# figures, asserts nothing. Needs wrk (installed when missing and root). PostgreSQL:
# GATEHOUSE_TEST_POSTGRES_URL, or a throwaway cluster is started.
#
#   bench/oauth.sh [postgres|sqlite]     (default postgres)
#
# Knobs (environment): CLIENTS=16 DURATION=20 SESSIONS=2000 CONNECTIONS=64 BIN (see below)
# Server CPU per grant is the CPU time of the Gatehouse process and of every `postgres` process
# on the machine over the run, divided by the grants: run it on a machine doing nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-postgres}
CLIENTS=${CLIENTS:-16}
DURATION=${DURATION:-20}
SESSIONS=${SESSIONS:-2000}
CONNECTIONS=${CONNECTIONS:-64}
SHARED_SECRET=bench-shared-secret
export SHARED_SECRET

command -v wrk >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null; } || { echo "install wrk" >&2; exit 1; }
cargo build --release --locked --quiet --bin gatehouse --example seed_oauth_sessions \
    --example seed_compat_tokens --example refresh_load --example code_flow_load
# BIN=…: another build's server to compare with (A/B); the seeding and load examples are
# this tree's (the schema must be the same).
bin=${BIN:-$PWD/target/release/gatehouse}
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
postgres_pids() { pgrep -x postgres || true; }

case $backend in
    sqlite)
        db_url="sqlite://$work/gatehouse.db?mode=rwc"
        config_uri="sqlite://$work/gatehouse.db" ;;
    postgres)
        if [ -z "${GATEHOUSE_TEST_POSTGRES_URL:-}" ]; then
            # shellcheck source=scripts/throwaway-postgres.sh
            source scripts/throwaway-postgres.sh
            gatehouse_pg_start
        fi
        name="gatehouse_bench_$RANDOM$RANDOM"
        psql "$GATEHOUSE_TEST_POSTGRES_URL" -qc "CREATE DATABASE $name" >/dev/null
        db_url="${GATEHOUSE_TEST_POSTGRES_URL%/*}/$name"
        config_uri=$db_url ;;
    *) echo "usage: bench/oauth.sh [postgres|sqlite]" >&2; exit 2 ;;
esac
PASSWORD=bench-password-not-secret
target/release/examples/seed_oauth_sessions "$db_url" "$SESSIONS" "$work/sessions.txt" "$PASSWORD"
target/release/examples/seed_compat_tokens "$db_url" "$SESSIONS" "$work/compat.txt"
# Introspection uses the sessions neither the warm-up (the last CLIENTS) nor the run (the first
# CLIENTS) refreshes: their access tokens stay active.
tail -n +2 "$work/sessions.txt" | tail -n +"$((CLIENTS + 1))" | head -n -"$CLIENTS" | cut -d' ' -f1 > "$work/oauth-access.txt"
port=$(free_port)
cat > "$work/bench.yaml" <<YAML
database:
  uri: "$config_uri"
  max_connections: 8
matrix:
  kind: synapse_read_only
  secret: $SHARED_SECRET
  endpoint: http://127.0.0.1:9/
rate_limiting:
  login:
    per_ip: {burst: 1000000, per_second: 1000000}
    per_account: {burst: 1000000, per_second: 1000000}
http:
  listeners:
    - name: bench
      resources: [{name: oauth}, {name: discovery}, {name: human}, {name: health}]
      binds: [{address: "127.0.0.1:$port"}]
YAML
"$bin" config generate > "$work/base.yaml"
RUST_LOG=warn "$bin" -c "$work/base.yaml" -c "$work/bench.yaml" server --no-worker >"$work/server.log" 2>&1 &
server=$!
url="http://127.0.0.1:$port"
until curl -fsS -o /dev/null "$url/health" 2>/dev/null; do
    kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 0.05
done
# A short warm-up on the chains the run will not use.
tail -n +2 "$work/sessions.txt" | tail -n "$CLIENTS" | sed "1i $(head -1 "$work/sessions.txt")" > "$work/warmup.txt"
target/release/examples/refresh_load "$url" "$work/warmup.txt" "$CLIENTS" 2 >/dev/null

mapfile -t pg < <(postgres_pids)
before_server=$(cpu_seconds "$server")
before_pg=$(cpu_seconds "${pg[@]}")
refresh=$(target/release/examples/refresh_load "$url" "$work/sessions.txt" "$CLIENTS" "$DURATION" | result)
after_server=$(cpu_seconds "$server")
after_pg=$(cpu_seconds "${pg[@]}")
grants=$(sed 's/.*grants=\([0-9]*\).*/\1/' <<<"$refresh")
per_grant=$(python3 -c "
g = max($grants, 1)
s = ($after_server - $before_server) * 1000 / g
p = ($after_pg - $before_pg) * 1000 / g
print(f'{s + p:.3f} ms (gatehouse {s:.3f} ms, postgres {p:.3f} ms)')")

# Complete authorization-code flows (sign-in done once per browser beforehand, consent remembered).
mapfile -t pg < <(postgres_pids)
before_server=$(cpu_seconds "$server")
before_pg=$(cpu_seconds "${pg[@]}")
flows=$(target/release/examples/code_flow_load "$url" "$work/sessions.txt" "$PASSWORD" "$CLIENTS" "$DURATION" | result)
after_server=$(cpu_seconds "$server")
after_pg=$(cpu_seconds "${pg[@]}")
count=$(sed 's/.*flows=\([0-9]*\).*/\1/' <<<"$flows")
per_flow=$(python3 -c "
n = max($count, 1)
s = ($after_server - $before_server) * 1000 / n
p = ($after_pg - $before_pg) * 1000 / n
print(f'{s + p:.3f} ms (gatehouse {s:.3f} ms, postgres {p:.3f} ms)')")

introspect() {
    TOKENS_FILE=$1 wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" -s bench/introspect.lua "$url" | result
}
introspect "$work/compat.txt" >/dev/null
mct=$(introspect "$work/compat.txt")
mat=$(introspect "$work/oauth-access.txt")
echo "== $backend, $(nproc) cores, ${DURATION}s runs"
echo "refresh grants, $CLIENTS clients, each its own chain: $refresh"
echo "  server CPU per grant: $per_grant"
echo "authorization-code flows (GET /authorize + code exchange), $CLIENTS browsers: $flows"
echo "  server CPU per flow: $per_flow"
echo "introspection, $CONNECTIONS connections, $SESSIONS compat tokens (mct_): $mct"
echo "introspection, $CONNECTIONS connections, $((SESSIONS - 2 * CLIENTS)) OAuth tokens (mat_): $mat"
