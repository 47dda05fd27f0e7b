#!/usr/bin/env bash
# Admin API user-list latency at 100k and 1M users, on SQLite and PostgreSQL (a throwaway
# cluster unless GATEHOUSE_TEST_POSTGRES_URL is set). Prints figures; asserts nothing.
#
#   bench/admin-list.sh                 # 100k and 1M users, 20 requests per case
#   BENCH_USERS=100000 RUNS=50 bench/admin-list.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${GATEHOUSE_TEST_POSTGRES_URL:-}" ]; then
    # shellcheck source=scripts/throwaway-postgres.sh
    source scripts/throwaway-postgres.sh
    trap gatehouse_pg_stop EXIT
    gatehouse_pg_start || echo "bench/admin-list.sh: no PostgreSQL; SQLite only" >&2
fi
cargo bench --locked --bench admin_list
