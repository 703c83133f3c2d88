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

# the CPU of a command's children, from bash 'times' (second line:
# "XmY.YYYs XmY.YYYs") -> microseconds, empty when unknown
times_us() {  # times_us FILE
    [[ -s $1 ]] || return 0
    sed -n 2p "$1" | awk '{ t = 0
        for (i = 1; i <= 2; i++) { split($i, a, "m"); sub("s", "", a[2]); t += a[1] * 60 + a[2] }
        printf "%d", t * 1e6 }'
}

# the machine's CPU time so far, in clock ticks, from /proc/stat's "cpu" line:
# "BUSY IDLE" (idle counts idle and iowait; steal is left out of both)
machine_ticks() {
    awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8, $5 + $6; exit }' /proc/stat
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

# ---- huge pages for the benchmark's PostgreSQL clusters -------------------------
# Every new PostgreSQL backend maps the shared buffers and takes a page fault
# for each 4 KiB page it touches.  On a virtual machine a fault is dear (here
# 20-50 us), so a leg that opens new server connections pays a tax that a
# pooler reusing old ones does not: it blurs the comparison of the proxies.
# With 2 MiB pages (PostgreSQL's huge_pages=try uses them when the kernel has
# them reserved) a backend takes a few dozen faults instead of thousands.
HUGEPAGES_OLD=""

# hugepages_reserve COUNT: raise vm.nr_hugepages to at least COUNT, remember
# the old value for hugepages_restore; 1 (with a note) where it cannot
hugepages_reserve() {
    local want=$1 now got
    now=$(cat /proc/sys/vm/nr_hugepages 2>/dev/null) || { log "NOTE: no /proc/sys/vm/nr_hugepages; clusters run on 4 KiB pages"; return 1; }
    [[ $now -ge $want ]] && { log "huge pages: $now reserved already (want $want)"; return 0; }
    if ! echo "$want" 2>/dev/null >/proc/sys/vm/nr_hugepages; then
        log "NOTE: cannot set vm.nr_hugepages (needs root); clusters run on 4 KiB pages"
        return 1
    fi
    HUGEPAGES_OLD=$now
    got=$(cat /proc/sys/vm/nr_hugepages)
    log "huge pages: vm.nr_hugepages $now -> $got (asked $want); restored at exit"
    [[ $got -ge $want ]]
}

# hugepages_restore: put vm.nr_hugepages back (pages still mapped by a running
# cluster become surplus and go back to the kernel when it stops)
hugepages_restore() {
    [[ -n $HUGEPAGES_OLD ]] || return 0
    echo "$HUGEPAGES_OLD" >/proc/sys/vm/nr_hugepages 2>/dev/null || log "warning: could not restore vm.nr_hugepages to $HUGEPAGES_OLD"
    HUGEPAGES_OLD=""
}

# hugepages_in_use: 2 MiB pages taken or reserved right now (0 when none)
hugepages_in_use() {
    awk '/^HugePages_Total:/ {t=$2} /^HugePages_Free:/ {f=$2} /^HugePages_Rsvd:/ {r=$2}
         END {print t - f + r}' /proc/meminfo
}

# pm_on_hugepages PID: 0 when that postmaster's shared memory is on huge pages
pm_on_hugepages() { grep -q 'anon_hugepage' "/proc/$1/maps" 2>/dev/null; }
