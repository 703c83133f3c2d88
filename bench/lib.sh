# bench/lib.sh - helpers shared by bench/run.sh and bench/mysql.sh.
#
# Sourced, not run.  The sourcing script sets PROG (its name in messages)
# first; HOST (the loopback address the proxies bind) before calling
# write_haproxy_cfg.

# ---- messages and arguments ----------------------------------------------------
die() { echo "$PROG: error: $*" >&2; exit 1; }
log() { echo "$PROG: $*" >&2; }

need_arg() { [[ $# -ge 2 && -n $2 ]] || die "$1 needs a value"; }
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

# ---- processes this script started -----------------------------------------------
proc_tree() {  # proc_tree PID: the pid and all its descendants
    local p=$1 c
    echo "$p"
    for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do proc_tree "$c"; done
}

# stop_pid PID: SIGTERM to a process we started (and its descendants, e.g.
# worker processes), wait up to 5 s, then SIGKILL what is left
stop_pid() {
    local pid=$1 i p alive
    local -a tree
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
    mapfile -t tree < <(proc_tree "$pid")
    for p in "${tree[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for ((i = 0; i < 50; i++)); do
        alive=0
        for p in "${tree[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [[ $alive -eq 1 ]] || break
        sleep 0.1
    done
    for p in "${tree[@]}"; do
        kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
    done
    wait "$pid" 2>/dev/null || true
}

# ---- /proc ---------------------------------------------------------------------------
# CPU time (user + system, in clock ticks) used so far by a process tree,
# counting children that exited and were waited for (a PostgreSQL backend
# ends with its connection, and the postmaster reaps it); empty when PID is
# empty
tree_cpu_ticks() {
    local p sum=0 v
    [[ -n $1 ]] || return 0
    for p in $(proc_tree "$1"); do
        v=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$p/stat" 2>/dev/null) || continue
        sum=$((sum + v))
    done
    echo "$sum"
}

proc_nofile() { awk '/^Max open files/ {print $4}' "/proc/$1/limits" 2>/dev/null || echo "?"; }

port_in_use() { ss -Hltn "sport = :$1" | grep -q .; }

# ---- HAProxy -------------------------------------------------------------------------
# write_haproxy_cfg FILE MAXCONN NAME PORT SERVER_PORT: a TCP pass-through
# from HOST:PORT to HOST:SERVER_PORT (section "listen NAME"); append more
# listen sections to FILE as needed
write_haproxy_cfg() {
    cat >"$1" <<CFG
global
    maxconn $2

defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h

listen $3
    bind $HOST:$4
    maxconn $2
    server $3 $HOST:$5
CFG
}
