# Source this file to start a throwaway PostgreSQL cluster for the tests and export
# GATEHOUSE_TEST_POSTGRES_URL pointing at it. The cluster is stopped and deleted on exit.
#
# It uses the newest server under /usr/lib/postgresql/*/bin. When there is none and we are root,
# it installs Debian's `postgresql` package first. PostgreSQL refuses to run as root, so as root
# the cluster belongs to the `postgres` user (runuser).

gatehouse_pg_fail() {
    echo "scripts/test: $*" >&2
    return 1
}

gatehouse_pg_bindir() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

gatehouse_pg_start() {
    local bindir
    bindir=$(gatehouse_pg_bindir)
    if [ -z "$bindir" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "scripts/test: installing PostgreSQL (Debian package postgresql)" >&2
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null ||
            gatehouse_pg_fail "could not install postgresql" || return 1
        bindir=$(gatehouse_pg_bindir)
    fi
    [ -n "$bindir" ] || { gatehouse_pg_fail "no PostgreSQL server found under /usr/lib/postgresql/*/bin"; return 1; }

    local run=()
    GATEHOUSE_PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-test-pg.XXXXXX")
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres ||
            { gatehouse_pg_fail "no postgres user to run the cluster as"; return 1; }
        chown postgres "$GATEHOUSE_PG_DIR"
        run=(runuser -u postgres --)
    fi
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 55439)

    "${run[@]}" "$bindir/initdb" -D "$GATEHOUSE_PG_DIR/data" -U postgres --auth=trust -E UTF8 --locale=C >"$GATEHOUSE_PG_DIR/initdb.log" 2>&1 ||
        { cat "$GATEHOUSE_PG_DIR/initdb.log" >&2; gatehouse_pg_fail "initdb failed"; return 1; }
    # Throwaway cluster: durability off for speed; loopback only.
    "${run[@]}" "$bindir/pg_ctl" -D "$GATEHOUSE_PG_DIR/data" -l "$GATEHOUSE_PG_DIR/server.log" -w -t 60 \
        -o "-p $port -k $GATEHOUSE_PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
        start >/dev/null ||
        { cat "$GATEHOUSE_PG_DIR/server.log" >&2; gatehouse_pg_fail "PostgreSQL did not start"; return 1; }
    GATEHOUSE_PG_STOP=("${run[@]}" "$bindir/pg_ctl" -D "$GATEHOUSE_PG_DIR/data" -m immediate stop)
    export GATEHOUSE_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
    echo "scripts/test: throwaway PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2
}

gatehouse_pg_stop() {
    if [ -n "${GATEHOUSE_PG_DIR:-}" ]; then
        "${GATEHOUSE_PG_STOP[@]}" >/dev/null 2>&1 || true
        rm -rf "$GATEHOUSE_PG_DIR"
    fi
}
