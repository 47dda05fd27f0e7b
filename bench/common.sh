# Helpers shared by the benchmark scripts (sourced, not run).

# A free loopback TCP port.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# The figures of a load generator's `RESULT …` line.
result() { grep '^RESULT' | sed 's/^RESULT //'; }
# CPU seconds (user + system) used so far by the processes given.
cpu_seconds() {
    local ticks=0 pid
    for pid in "$@"; do
        [ -r "/proc/$pid/stat" ] || continue
        ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
    done
    python3 -c "print($ticks / $(getconf CLK_TCK))"
}
