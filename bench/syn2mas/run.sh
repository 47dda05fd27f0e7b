#!/usr/bin/env bash
# Importer throughput: builds a synthetic Synapse database of N users (bench/syn2mas/generate.sql
# on the real Synapse schema of tests/fixtures/synapse) and times `gatehouse syn2mas migrate`
# into a fresh Gatehouse database, PostgreSQL→PostgreSQL and SQLite→SQLite. Prints users/s,
# rows/s and peak RSS; asserts nothing.
#
#   bench/syn2mas/run.sh [N] [pg|sqlite|both]      (default 200000 both)
#
# LAYOUT (environment) chooses how the rows lie, which changes how much sorting the key builds
# do:
#   ordered   (default) users created one after the other, devices and tokens stored user by
#             user, every device of a user last seen at the user's own time;
#   scattered users created at scattered times over three years and devices last seen at
#             scattered times over 90 days (as in the harness fixtures MAS was measured on),
#             rows still stored user by user;
#   logins    scattered times, and devices and tokens stored in an order unrelated to their
#             users, as a server that has run for a while has them (written as users log in).
#
# PostgreSQL: GATEHOUSE_BENCH_POSTGRES_URL (a URL whose user may CREATE DATABASE), else
# GATEHOUSE_TEST_POSTGRES_URL, else a throwaway cluster (scripts/throwaway-postgres.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-200000}
which=${2:-both}
cargo build --release --locked --quiet
bin=$PWD/target/release/gatehouse
work=$(mktemp -d)
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
fixtures=tests/fixtures/synapse
layout=${LAYOUT:-ordered}
case $layout in
    ordered) created='1700000000 + i'; last_seen='1700000000000 + i'; order='i, d' ;;
    scattered|logins)
        created='1700000000 - (i * 7919) % 94608000'
        last_seen='1700000000000 - ((i * 7919 + d * 104729) % 7776000) * 1000'
        order='i, d'
        [ "$layout" = logins ] && order="(i * 7919) % $n, d" ;;
    *) echo "LAYOUT must be ordered, scattered or logins" >&2; exit 2 ;;
esac
sed "s/:N/$n/g; s/:CREATED/$created/g; s/:LAST_SEEN/$last_seen/g; s/:ORDER/$order/g" \
    bench/syn2mas/generate.sql > "$work/generate.sql"

config() { # $1 = database uri, $2 = output
    "$bin" config generate 2>/dev/null | python3 -c '
import sys, yaml
c = yaml.safe_load(sys.stdin)
c["database"] = {"uri": sys.argv[1]}
c["http"]["listeners"] = []
c["matrix"]["homeserver"] = "example.test"
c["passwords"] = {"schemes": [{"version": 1, "algorithm": "bcrypt", "unicode_normalization": True},
                              {"version": 2, "algorithm": "argon2id"}]}
c["upstream_oauth2"] = {"providers": [{"id": "01JC9R4V8B5D7M3N2P6Q8S0T2X", "synapse_idp_id": "oidc-keycloak",
                                       "issuer": "https://idp.example", "client_id": "gatehouse"}]}
yaml.safe_dump(c, open(sys.argv[2], "w"))
' "$1" "$2"
}

homeserver() { # $1 = database section (YAML flow), $2 = output
    cat > "$2" <<YAML
server_name: example.test
password_config: {enabled: true}
oidc_providers: [{idp_id: keycloak, issuer: "https://idp.example", client_id: synapse}]
database: $1
YAML
}

# CPU seconds all processes have used since boot (everything but idle and iowait in /proc/stat).
busy_cpu_seconds() {
    awk -v hz="$(getconf CLK_TCK)" '/^cpu / {print ($2 + $3 + $4 + $7 + $8) / hz}' /proc/stat
}

measure() { # $1 = label, then the command
    local label=$1; shift
    local busy_before busy_after
    busy_before=$(busy_cpu_seconds)
    /usr/bin/time -f "%e %M %U %S" -o "$work/time" "$@" > "$work/out" 2> "$work/err" ||
        { cat "$work/err" >&2; exit 1; }
    busy_after=$(busy_cpu_seconds)
    read -r secs rss_kb cpu_user cpu_sys < "$work/time"
    echo "    CPU: importer user ${cpu_user} s, sys ${cpu_sys} s; whole machine (importer, databases) $(python3 -c "print(f'{$busy_after - $busy_before:.2f}')") s"
    local rows
    rows=$(grep -o '^[0-9]* rows written' "$work/err" | cut -d' ' -f1)
    python3 - "$label" "$n" "$rows" "$secs" "$rss_kb" <<'PY'
import sys
label, n, rows, secs, rss = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
print(f"{label}: {n} users, {rows} rows in {secs:.2f} s (process wall time): "
      f"{n/secs:,.0f} users/s, {rows/secs:,.0f} rows/s, peak RSS {rss/1024:.0f} MB")
PY
    grep -E '^(entity|users|threepids|external ids|devices|access tokens|refresh tokens) ' "$work/err" | sed 's/^/    /'
    grep -E "read, .* skipped in|^phases:|syncing|migration complete" "$work/err" | sed "s/\x1b\[[0-9;]*m//g; s/ *gatehouse[a-z_:]*: / /" || true
}

if [ "$which" != pg ]; then
    cp /dev/null "$work/synapse.db"
    sqlite3 "$work/synapse.db" < "$fixtures/sqlite-60/homeserver.sql"
    sqlite3 "$work/synapse.db" < "$work/generate.sql"
    homeserver "{name: sqlite3, args: {database: $work/synapse.db}}" "$work/hs-sqlite.yaml"
    config "sqlite://$work/gatehouse.db?mode=rwc" "$work/gh-sqlite.yaml"
    "$bin" -c "$work/gh-sqlite.yaml" database migrate 2>/dev/null
    measure "SQLite→SQLite" "$bin" -c "$work/gh-sqlite.yaml" syn2mas migrate --synapse-config "$work/hs-sqlite.yaml"
fi

if [ "$which" != sqlite ]; then
    url=${GATEHOUSE_BENCH_POSTGRES_URL:-${GATEHOUSE_TEST_POSTGRES_URL:-}}
    if [ -z "$url" ]; then
        # shellcheck source=scripts/throwaway-postgres.sh
        source scripts/throwaway-postgres.sh
        trap 'gatehouse_pg_stop; cleanup' EXIT
        gatehouse_pg_start
        url=$GATEHOUSE_TEST_POSTGRES_URL
    fi
    suffix=$(date +%s%N)
    psql -q "$url" -c "CREATE DATABASE bench_synapse_$suffix TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'" \
        -c "CREATE DATABASE bench_gatehouse_$suffix"
    base=${url%/*}
    psql -q "$base/bench_synapse_$suffix" -f "$fixtures/postgres-60/synapse.sql" > /dev/null
    psql -q "$base/bench_synapse_$suffix" -c "SET search_path = public" -f "$work/generate.sql" > /dev/null
    psql -q "$base/bench_synapse_$suffix" -c "VACUUM ANALYZE" > /dev/null
    # Write out what generating the data left in shared buffers and the WAL, as a Synapse
    # database that has been up for a while has, so that the server does not flush the
    # generator's gigabyte during the timed run. CHECKPOINT needs a superuser (or
    # pg_checkpoint); without one the run still works, only noisier.
    psql -q "$url" -c "CHECKPOINT" > /dev/null 2>&1 ||
        echo "note: could not CHECKPOINT (not a superuser); figures include flushing the generated data" >&2
    homeserver "{name: psycopg2, args: {}}" "$work/hs-pg.yaml"
    config "$base/bench_gatehouse_$suffix" "$work/gh-pg.yaml"
    "$bin" -c "$work/gh-pg.yaml" database migrate 2>/dev/null
    measure "PostgreSQL→PostgreSQL" "$bin" -c "$work/gh-pg.yaml" syn2mas migrate \
        --synapse-config "$work/hs-pg.yaml" --synapse-database-uri "$base/bench_synapse_$suffix"
    psql -q "$url" -c "DROP DATABASE bench_synapse_$suffix" -c "DROP DATABASE bench_gatehouse_$suffix"
fi
