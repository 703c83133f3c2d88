#!/usr/bin/env bash
# bench/run.sh - compare molt-lms with direct PostgreSQL, PgBouncer and HAProxy.
#
# Throughput/latency with pgbench (select-only, with and without a new
# connection per transaction), alternating between targets round by round,
# plus the resident memory of each proxy holding 10,000 idle TCP connections
# and 500 authenticated idle sessions.
#
# bench/run.sh --shadow: molt-lms in each shadow mode (none, async, sync,
# strict-sync) against an application that writes to both databases itself
# (bench/dual_client.c). See --help.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd -- "$SCRIPT_DIR/.." && pwd)
PY=/usr/bin/python3

# ---- defaults ---------------------------------------------------------------
ROUNDS=3
DURATION=20
CLIENTS=8
THREADS=2
SCALE=10
TARGETS="direct,pgbouncer,haproxy,lms"
USE_LMS=1
RUN_BENCH=1
RUN_IDLE=1
IDLE_CONNS=10000
IDLE_SESSIONS=500
LMS_BIN=${LMS_BIN:-$REPO_DIR/molt-lms}
LMS_PLUGIN_DIR=${LMS_PLUGIN_DIR:-$REPO_DIR/plugins/.libs}
EXTERNAL_PG_PORT=""
RESULTS_DIR=$SCRIPT_DIR/results
KEEP_TMP=0
HUGE_PAGES=auto     # --huge-pages: auto | off | a page count
PGB_POOL=fresh      # --pgbouncer-pool: fresh | keep
SHADOW=0
MODES="none,async,sync,strict-sync"
EXTERNAL_TGT_PORT=""
TGT_LOCK_TIMEOUT=100
WATCHDOG_GRACE=60   # --shadow: seconds past --duration before a run is stopped
TARGET_CPU=shared   # --shadow: comma list of shared | separate | nice (see --help)
declare -a LMS_EXTRA_ARGS=()

HOST=127.0.0.1
ADMIN_USER=lms_admin
ADMIN_PW=lms-admin-pw
APP_USER=app
APP_PW=app-pw
BENCH_DB=bench
APP_DB=appdb

# LMS_BENCH_PORT_BASE moves all six ports (base + 0..4 and base + 12) to run
# beside another run.sh
PORT_BASE=${LMS_BENCH_PORT_BASE:-16432}
PGB_PORT=$PORT_BASE
HAP_PORT=$((PORT_BASE + 1))
LMS_PORT=$((PORT_BASE + 2))
LMS_METRICS_PORT=$((PORT_BASE + 12))
HAP_IDLE_PORT=$((PORT_BASE + 3))   # HAProxy front end used only by the 10k idle TCP test
SINK_PORT=$((PORT_BASE + 4))       # its backend: idle_conns.py sink (see --help)
PROXY_NOFILE=65536

usage() {
    cat <<EOF
Usage: bench/run.sh [options]

Benchmarks molt-lms against direct PostgreSQL, PgBouncer (session pooling)
and HAProxy (mode tcp) in one run, alternating between targets inside every
round so that drift of the machine affects all of them alike.

Steps:
  1. tests/pg-cluster.sh start (source cluster on 127.0.0.1:15432); it is
     stopped again on exit only if it was not running before.
  2. pgbench -i -s SCALE in database '$BENCH_DB' (skipped if already at SCALE).
  3. Starts PgBouncer 127.0.0.1:$PGB_PORT, HAProxy 127.0.0.1:$HAP_PORT and
     molt-lms 127.0.0.1:$LMS_PORT (metrics $LMS_METRICS_PORT) with configs in a temp dir.
  4. For each round and workload, runs pgbench against every target:
       select          pgbench -S -c C -j J -T S -n        (simple protocol)
       select_connect  pgbench -S -C -c C -j J -T S -n     (new connection per txn)
     Latency percentiles come from the per-transaction logs (pgbench -l,
     column 3, microseconds). pgbench leaves the connection time out of that
     column, so for select_connect the table shows the per-client time between
     successive transaction completions (connect + txn + disconnect) instead;
     the txn-only figures are kept in the raw rows and the JSON.
  5. Resident memory (VmRSS, summed over the process tree) of each proxy before
     and while $IDLE_CONNS TCP clients that never send a startup packet are
     connected, and with $IDLE_SESSIONS authenticated idle psycopg2 sessions
     ($APP_USER/$APP_PW, database $APP_DB). Each proxy is restarted before each of
     these tests so that memory kept from earlier load does not hide the cost.
     HAProxy connects to its server as soon as a client connects; PostgreSQL would
     fork a backend for each and refuse most of 10,000, so for the TCP test only
     HAProxy's front end 127.0.0.1:$HAP_IDLE_PORT forwards to a TCP sink
     (bench/idle_conns.py sink) instead of PostgreSQL.
  6. Prints a table per workload (median over rounds) and the raw per-round
     numbers, and writes everything to bench/results/<timestamp>.json.

Options:
  --rounds N           rounds (default $ROUNDS)
  --duration S         seconds per pgbench run (default $DURATION)
  --clients N          pgbench -c (default $CLIENTS)
  --threads N          pgbench -j (default $THREADS)
  --scale N            pgbench scale factor (default $SCALE)
  --targets LIST       comma list out of direct,pgbouncer,haproxy,lms
                       (default $TARGETS)
  --no-lms             leave molt-lms out (also automatic when the binary is absent)
  --lms-bin PATH       molt-lms binary (default \$LMS_BIN or $REPO_DIR/molt-lms)
  --no-bench           skip the pgbench part
  --no-idle            skip the idle-connection memory part
  --idle-conns N       idle TCP connections (default $IDLE_CONNS)
  --idle-sessions N    authenticated idle sessions (default $IDLE_SESSIONS)
  --pg-port PORT       use a PostgreSQL cluster already running on 127.0.0.1:PORT
                       with the roles of tests/pg-cluster.sh instead of starting one
                       (it is never stopped)
  --results-dir DIR    where to write the JSON (default bench/results)
  --keep-tmp           keep the temp dir (configs, logs) for inspection
  --huge-pages N|auto|off
                       reserve N 2 MiB pages (vm.nr_hugepages, root only, restored
                       at exit) before starting the clusters, so that a new
                       backend does not take a page fault per 4 KiB of shared
                       buffers; auto (default) reserves 256, enough for two
                       clusters of tests/pg-cluster.sh (about 100 each). Has no effect on clusters
                       already running (--pg-port, or started before the run)
  --pgbouncer-pool fresh|keep
                       fresh (default): restart PgBouncer before each of its legs,
                       so that it opens new server connections as every other
                       target must; keep: let its pool carry warm backends from
                       leg to leg (its advantage over the others then includes
                       the backends' warm caches and page tables)
  -h, --help           this help

Shadowing benchmark (--shadow; the steps above are replaced by these):
  1. Source and target clusters (tests/pg-cluster.sh starts both; the target is
     a second PostgreSQL standing in for CockroachDB); pgbench -i -s SCALE in
     database '$BENCH_DB' on both.
  2. For each round and workload, in an order rotated every round:
       direct        pgbench straight to the source
       lms-MODE      pgbench through molt-lms --shadow-mode MODE for each of
                     --modes, INIT_TARGET = the target cluster; molt-lms is
                     restarted for each run; a mode it refuses (or that does not
                     come up) is reported as 'unavailable' with the reason from
                     its log, and the other legs go on
       baseline      bench/dual_client: CLIENTS threads, each with one connection
                     to the source and one to the target, sending every statement
                     to both at once and waiting for both (what sync does),
                     comparing the results; same transactions as pgbench,
                     simple protocol
       baseline-seq  the same, but each statement goes to the target only once
                     the source answered it (the order molt-lms's sync uses, so
                     that the databases cannot deadlock on each other's locks)
       client-cal    bench/dual_client against the source only: compares the
                     baseline client with pgbench (client-side cost)
     Workloads: shadow_select = pgbench -S; shadow_tpcb = pgbench's default
     TPC-B-like script (-c CLIENTS -j THREADS -T DURATION -n). Before every
     shadow_tpcb run the balances are reset and pgbench_history emptied on both
     databases, so every run starts from identical data.
  3. Prints tps and p50/p99 per leg (median over rounds), the ratios
     sync/baseline, strict-sync/baseline, async/none, none/direct (and the
     same against baseline-seq), the issue's targets (sync >= 0.9 x baseline,
     async >= 0.95 x none; sync against baseline-seq too) as met/missed, the
     shadow metrics molt-lms exported (lms_shadow_*), and writes
     bench/results/<timestamp>-shadow.json.
  Writes to the same rows sent to both databases at once can deadlock across
  them (each server grants the locks in its own order and neither sees the
  other): pgbench's TPC-B-like script does this all the time on its few
  pgbench_branches rows. The baseline breaks such a deadlock with a
  lock_timeout on its target sessions (--target-lock-timeout), and its
  shadow_tpcb figure then mostly measures that timeout (its target_errors and
  mismatches show how often); baseline-seq cannot deadlock.

Shadow options:
  --shadow                 run the shadowing benchmark instead
  --modes LIST             shadow modes to run through molt-lms (default $MODES)
  --target-pg-port PORT    with --pg-port: the target cluster already running on
                           127.0.0.1:PORT (same roles; never stopped)
  --target-lock-timeout MS lock_timeout of the baseline's target sessions,
                           0 = none (default $TGT_LOCK_TIMEOUT)
  --lms-arg ARG            extra argument for molt-lms (repeatable), e.g. its
                           shadow timeout
  --target-cpu LIST        where the target cluster's CPU comes from, a comma
                           list: the whole benchmark runs once per entry, in
                           order, each with its report and JSON
                           (e.g. shared,separate gives both figures):
                           shared    (default) every process on every CPU, as
                                     the machine comes: the target PostgreSQL
                                     competes with the source, the client and
                                     molt-lms, which a real deployment (target
                                     on its own machines) does not
                           separate  models a target on its own hardware: the
                                     target cluster (postmaster and every
                                     backend, which inherit it) is pinned with
                                     taskset to the last CPU, and everything
                                     else (source cluster, pgbench,
                                     dual_client, molt-lms) to the others
                                     (needs 2 CPUs or more; the figures are
                                     then those of a smaller source machine,
                                     the same for every leg)
                           nice      the target cluster at nice 19: it gets
                                     what the source side leaves (a slower
                                     target; async then drops more requests)
                           The target's pinning or niceness is undone on exit.
  Every leg also reports CPU per transaction (user+system from /proc/PID/stat
  deltas, or the client's own rusage): molt-lms ('proxy'), the client
  (pgbench or dual_client), the source and the target clusters (postmaster,
  its live backends and those it reaped). These are steadier than tps on a
  loaded machine; 'total' is their sum, 'src side' the sum without the target
  cluster, and the cpu ratios compare both.

Environment: LMS_TEST_SOURCE_PORT / LMS_TEST_DIR are honoured as by
tests/pg-cluster.sh; LMS_BENCH_PORT_BASE (default 16432) moves the proxies'
ports above (PgBouncer = base, HAProxy +1, molt-lms +2, idle front end +3,
sink +4, metrics +12). Run as root (PgBouncer then runs as 'postgres') or as a
user whose hard open-files limit is high enough for $IDLE_CONNS connections.
EOF
}

PROG=run.sh
# die, log, need_arg, is_uint, proc_tree, stop_pid, tree_cpu_ticks, times_us,
# proc_nofile, port_in_use, write_haproxy_cfg
. "$SCRIPT_DIR/lib.sh"
is_uint "$PORT_BASE" && [[ $PORT_BASE -gt 0 && $PORT_BASE -lt 32756 ]] ||
    die "LMS_BENCH_PORT_BASE must be a port number below 32756 (got '$PORT_BASE')"

while [[ $# -gt 0 ]]; do
    case $1 in
        --rounds) need_arg "$@"; ROUNDS=$2; shift 2 ;;
        --duration) need_arg "$@"; DURATION=$2; shift 2 ;;
        --clients) need_arg "$@"; CLIENTS=$2; shift 2 ;;
        --threads) need_arg "$@"; THREADS=$2; shift 2 ;;
        --scale) need_arg "$@"; SCALE=$2; shift 2 ;;
        --targets) need_arg "$@"; TARGETS=$2; shift 2 ;;
        --no-lms) USE_LMS=0; shift ;;
        --lms-bin) need_arg "$@"; LMS_BIN=$2; shift 2 ;;
        --no-bench) RUN_BENCH=0; shift ;;
        --no-idle) RUN_IDLE=0; shift ;;
        --idle-conns) need_arg "$@"; IDLE_CONNS=$2; shift 2 ;;
        --idle-sessions) need_arg "$@"; IDLE_SESSIONS=$2; shift 2 ;;
        --pg-port) need_arg "$@"; EXTERNAL_PG_PORT=$2; shift 2 ;;
        --results-dir) need_arg "$@"; RESULTS_DIR=$2; shift 2 ;;
        --keep-tmp) KEEP_TMP=1; shift ;;
        --huge-pages) need_arg "$@"; HUGE_PAGES=$2; shift 2 ;;
        --pgbouncer-pool) need_arg "$@"; PGB_POOL=$2; shift 2 ;;
        --shadow) SHADOW=1; shift ;;
        --modes) need_arg "$@"; MODES=$2; shift 2 ;;
        --target-pg-port) need_arg "$@"; EXTERNAL_TGT_PORT=$2; shift 2 ;;
        --target-lock-timeout) need_arg "$@"; TGT_LOCK_TIMEOUT=$2; shift 2 ;;
        --lms-arg) [[ $# -ge 2 ]] || die "--lms-arg needs a value"; LMS_EXTRA_ARGS+=("$2"); shift 2 ;;
        --target-cpu) need_arg "$@"; TARGET_CPU=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

# molt-lms starts in a directory of its own: make relative paths absolute
[[ $LMS_BIN == /* || ! -e $LMS_BIN ]] || LMS_BIN=$(realpath "$LMS_BIN")
[[ $LMS_PLUGIN_DIR == /* || ! -e $LMS_PLUGIN_DIR ]] || LMS_PLUGIN_DIR=$(realpath "$LMS_PLUGIN_DIR")

for v in ROUNDS DURATION CLIENTS THREADS SCALE IDLE_CONNS IDLE_SESSIONS; do
    if ! is_uint "${!v}" || [[ ${!v} -eq 0 ]]; then
        die "$v must be a positive integer (got '${!v}')"
    fi
done
case $HUGE_PAGES in
    auto) HUGE_PAGES=256 ;;
    off) ;;
    *) is_uint "$HUGE_PAGES" && [[ $HUGE_PAGES -gt 0 ]] || die "--huge-pages takes a page count, auto or off (got '$HUGE_PAGES')" ;;
esac
[[ $PGB_POOL == fresh || $PGB_POOL == keep ]] || die "--pgbouncer-pool takes fresh or keep (got '$PGB_POOL')"
[[ -z $EXTERNAL_PG_PORT ]] || is_uint "$EXTERNAL_PG_PORT" || die "--pg-port must be a port number"
[[ -z $EXTERNAL_TGT_PORT ]] || is_uint "$EXTERNAL_TGT_PORT" || die "--target-pg-port must be a port number"
is_uint "$TGT_LOCK_TIMEOUT" || die "--target-lock-timeout must be a number of milliseconds"
declare -a CPU_LIST=()
IFS=, read -r -a _c <<<"$TARGET_CPU"
for c in "${_c[@]}"; do
    case $c in
        shared|nice) CPU_LIST+=("$c") ;;
        separate) [[ $(nproc) -ge 2 ]] || die "--target-cpu separate needs at least 2 CPUs"; CPU_LIST+=("$c") ;;
        "") ;;
        *) die "--target-cpu takes shared, separate or nice (got '$c')" ;;
    esac
done
[[ ${#CPU_LIST[@]} -gt 0 ]] || die "--target-cpu: nothing to run"
[[ $TARGET_CPU == shared || $SHADOW -eq 1 ]] || die "--target-cpu is only used with --shadow"
TARGET_CPU=shared   # the placement in effect; each pass sets its own

declare -a MODE_LIST=()
if [[ $SHADOW -eq 1 ]]; then
    if [[ -n $EXTERNAL_PG_PORT && -z $EXTERNAL_TGT_PORT ]] || [[ -z $EXTERNAL_PG_PORT && -n $EXTERNAL_TGT_PORT ]]; then
        die "--shadow with a running cluster needs both --pg-port and --target-pg-port"
    fi
    IFS=, read -r -a _m <<<"$MODES"
    for m in "${_m[@]}"; do
        case $m in
            none|async|sync|strict-sync) MODE_LIST+=("$m") ;;
            "") ;;
            *) die "unknown shadow mode '$m' (none,async,sync,strict-sync)" ;;
        esac
    done
    # only PostgreSQL itself and molt-lms take part; no memory tests
    TARGETS=direct
    RUN_IDLE=0
    RUN_BENCH=1
    if [[ $USE_LMS -eq 0 ]]; then
        MODE_LIST=()
    elif [[ ! -x $LMS_BIN ]]; then
        log "NOTE: molt-lms binary not found at $LMS_BIN (build it with 'make'); every lms-MODE leg is reported unavailable"
    fi
    command -v cc >/dev/null || die "cc not found (needed to build bench/dual_client.c)"
    command -v pkg-config >/dev/null && pkg-config --exists libpq || die "pkg-config libpq not found (libpq-dev)"
elif [[ -n $EXTERNAL_TGT_PORT ]]; then
    die "--target-pg-port is only used with --shadow"
fi

declare -a TARGET_LIST=()
IFS=, read -r -a _t <<<"$TARGETS"
for t in "${_t[@]}"; do
    case $t in
        direct|pgbouncer|haproxy) TARGET_LIST+=("$t") ;;
        lms) [[ $USE_LMS -eq 1 ]] && TARGET_LIST+=("$t") ;;
        "") ;;
        *) die "unknown target '$t' (direct,pgbouncer,haproxy,lms)" ;;
    esac
done
[[ ${#TARGET_LIST[@]} -gt 0 ]] || die "no targets selected"

has_target() {
    local t
    for t in "${TARGET_LIST[@]}"; do [[ $t == "$1" ]] && return 0; done
    return 1
}
drop_target() {
    local t; local -a keep=()
    for t in "${TARGET_LIST[@]}"; do [[ $t == "$1" ]] || keep+=("$t"); done
    TARGET_LIST=("${keep[@]}")
}

if has_target lms && [[ ! -x $LMS_BIN ]]; then
    log "NOTE: molt-lms binary not found at $LMS_BIN (build it with 'make'); skipping the molt-lms target"
    drop_target lms
fi

for tool in pgbench psql pg_isready curl ss; do
    command -v "$tool" >/dev/null || die "$tool not found"
done
has_target pgbouncer && { command -v pgbouncer >/dev/null || die "pgbouncer not found (apt-get install pgbouncer)"; }
has_target haproxy && { command -v haproxy >/dev/null || die "haproxy not found (apt-get install haproxy)"; }
[[ -x $PY ]] || die "$PY not found"

IS_ROOT=0
[[ $(id -u) -eq 0 ]] && IS_ROOT=1

# ---- state and cleanup ------------------------------------------------------
TMP=$(mktemp -d /tmp/lms-bench.XXXXXX)
chmod 0711 "$TMP"
CLUSTER_STARTED=0
PGB_PID="" HAP_PID="" LMS_PID="" PGBENCH_PID=""
declare -a EXTRA_PIDS=()

cleanup() {
    local rc=$? p
    trap - EXIT INT TERM
    trap '' PIPE   # a closed stdout/stderr (e.g. | head) must not stop the cleanup
    set +e
    stop_pid "$PGBENCH_PID"
    for p in "${EXTRA_PIDS[@]}"; do stop_pid "$p"; done
    stop_pid "$LMS_PID"
    stop_pid "$HAP_PID"
    stop_pid "$PGB_PID"
    unplace_clusters
    if [[ $CLUSTER_STARTED -eq 1 ]]; then
        log "stopping the test cluster (it was not running before)"
        "$REPO_DIR/tests/pg-cluster.sh" stop >/dev/null 2>&1 || log "warning: pg-cluster.sh stop failed"
    fi
    hugepages_restore
    if [[ $KEEP_TMP -eq 1 ]]; then
        log "temp dir kept: $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
# ---- where the clusters run (--target-cpu) ------------------------------------
SRC_PM="" TGT_PM="" PLACED=0
declare -a SIDE_PIN=()   # 'separate': taskset prefix for the source side's programs

postmaster_pid() {  # postmaster_pid PORT: first line of its data directory's postmaster.pid
    local dir
    dir=$(admin_psql_at "$1" postgres "show data_directory" 2>/dev/null) || return 1
    head -n 1 "$dir/postmaster.pid" 2>/dev/null
}

# find both postmasters (for CPU figures)
find_postmasters() {
    SRC_PM=$(postmaster_pid "$SRC_PORT") || SRC_PM=""
    TGT_PM=""
    if [[ $SHADOW -eq 1 ]]; then TGT_PM=$(postmaster_pid "$TGT_PORT") || TGT_PM=""; fi
}

# place_clusters HOW: apply one --target-cpu placement
place_clusters() {
    local last p
    TARGET_CPU=$1
    SIDE_PIN=()
    [[ $TARGET_CPU == shared ]] && return 0
    [[ -n $SRC_PM && -n $TGT_PM ]] || die "--target-cpu $TARGET_CPU: cannot find the clusters' postmasters"
    PLACED=1
    if [[ $TARGET_CPU == nice ]]; then
        for p in $(proc_tree "$TGT_PM"); do renice 19 -p "$p" >/dev/null 2>&1 || true; done
        log "target cluster (postmaster $TGT_PM) at nice 19; its new backends inherit it"
        return 0
    fi
    last=$(($(nproc) - 1))
    SIDE_CPUS=0
    [[ $last -gt 1 ]] && SIDE_CPUS=0-$((last - 1))
    for p in $(proc_tree "$TGT_PM"); do taskset -a -p -c "$last" "$p" >/dev/null 2>&1 || true; done
    for p in $(proc_tree "$SRC_PM"); do taskset -a -p -c "$SIDE_CPUS" "$p" >/dev/null 2>&1 || true; done
    SIDE_PIN=(taskset -c "$SIDE_CPUS")
    log "target cluster (postmaster $TGT_PM) pinned to CPU $last; source cluster, clients and molt-lms to CPU $SIDE_CPUS"
}

# undo place_clusters (after its pass, and on exit)
unplace_clusters() {
    [[ $PLACED -eq 1 ]] || return 0
    local p all="0-$(($(nproc) - 1))"
    for p in $(proc_tree "$TGT_PM"); do
        if [[ $TARGET_CPU == nice ]]; then renice 0 -p "$p" >/dev/null 2>&1; fi
        if [[ $TARGET_CPU == separate ]]; then taskset -a -p -c "$all" "$p" >/dev/null 2>&1; fi
    done
    if [[ $TARGET_CPU == separate ]]; then
        for p in $(proc_tree "$SRC_PM"); do taskset -a -p -c "$all" "$p" >/dev/null 2>&1; done
    fi
    PLACED=0
}

# CPU ticks (user + system) of a cluster so far: the postmaster with the
# children it reaped, plus its live children; empty when unknown
cluster_cpu_ticks() {
    local pm=$1 sum p v
    [[ -n $pm ]] || return 0
    sum=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$pm/stat" 2>/dev/null) || return 0
    for p in $(ps -o pid= --ppid "$pm" 2>/dev/null); do
        v=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null) || continue
        sum=$((sum + v))
    done
    echo "$sum"
}

# cluster_children PM: how many processes the postmaster has now
cluster_children() {
    [[ -n $1 ]] || { echo 0; return; }
    ps -o pid= --ppid "$1" 2>/dev/null | wc -l
}

# settle_clusters SRC_N TGT_N: wait (up to 5 s) until both clusters are back
# to that many processes, so that the run's backends have exited and been
# reaped (their CPU then shows in the postmaster's cutime/cstime)
settle_clusters() {
    local i
    for ((i = 0; i < 50; i++)); do
        [[ $(cluster_children "$SRC_PM") -le $1 && $(cluster_children "$TGT_PM") -le $2 ]] && return 0
        sleep 0.1
    done
}

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Raise the open-files limit of the current (sub)shell as far as allowed.
raise_nofile() {
    if [[ $IS_ROOT -eq 1 ]]; then
        ulimit -Hn "$PROXY_NOFILE" 2>/dev/null || true
    fi
    ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
}

wait_port() {  # wait_port PORT PID SECONDS
    local port=$1 pid=$2 secs=$3 i
    for ((i = 0; i < secs * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 1
        port_in_use "$port" && return 0
        sleep 0.1
    done
    return 1
}

# ---- PostgreSQL ---------------------------------------------------------------
export PGSSLMODE=disable   # all targets plaintext: PgBouncer and molt-lms terminate without TLS here
export PGCONNECT_TIMEOUT=10

if [[ -n $EXTERNAL_PG_PORT ]]; then
    SRC_PORT=$EXTERNAL_PG_PORT
    pg_isready -q -h "$HOST" -p "$SRC_PORT" || die "no PostgreSQL answering on $HOST:$SRC_PORT"
    log "using the running cluster on $HOST:$SRC_PORT"
    if [[ $SHADOW -eq 1 ]]; then
        TGT_PORT=$EXTERNAL_TGT_PORT
        pg_isready -q -h "$HOST" -p "$TGT_PORT" || die "no PostgreSQL answering on $HOST:$TGT_PORT (target)"
        log "using the running target cluster on $HOST:$TGT_PORT"
    fi
else
    CLUSTER_SH=$REPO_DIR/tests/pg-cluster.sh
    [[ -x $CLUSTER_SH ]] || die "$CLUSTER_SH not found (or use --pg-port PORT with a running cluster)"
    SRC_PORT=${LMS_TEST_SOURCE_PORT:-15432}
    TGT_PORT=${LMS_TEST_TARGET_PORT:-15433}
    was_running=0
    pg_isready -q -h "$HOST" -p "$SRC_PORT" && was_running=1
    # pg-cluster.sh stop stops both clusters: with --shadow, stop them at the
    # end only if neither was running before
    [[ $SHADOW -eq 1 ]] && pg_isready -q -h "$HOST" -p "$TGT_PORT" && was_running=1
    if [[ $HUGE_PAGES != off ]]; then
        hugepages_reserve "$HUGE_PAGES" || true
        [[ $was_running -eq 1 ]] && log "NOTE: the clusters were already running; they use huge pages only if they were started after vm.nr_hugepages was raised"
    fi
    log "tests/pg-cluster.sh start"
    "$CLUSTER_SH" start >&2 || die "tests/pg-cluster.sh start failed"
    [[ $was_running -eq 1 ]] || CLUSTER_STARTED=1
    # take the source port from 'env' (lines like: export NAME=VALUE)
    while IFS= read -r line; do
        line=${line#export }
        name=${line%%=*} val=${line#*=}
        val=${val#[\"\']} val=${val%[\"\']}
        [[ $name == LMS_TEST_SOURCE_PORT ]] && SRC_PORT=$val
        [[ $name == LMS_TEST_TARGET_PORT ]] && TGT_PORT=$val
    done < <("$CLUSTER_SH" env 2>/dev/null || true)
    pg_isready -q -h "$HOST" -p "$SRC_PORT" || die "source cluster not ready on $HOST:$SRC_PORT"
    if [[ $SHADOW -eq 1 ]]; then
        pg_isready -q -h "$HOST" -p "$TGT_PORT" || die "target cluster not ready on $HOST:$TGT_PORT"
    fi
fi

admin_psql_at() {  # admin_psql_at PORT DB SQL
    PGPASSWORD=$ADMIN_PW psql -X -q -At -v ON_ERROR_STOP=1 -h "$HOST" -p "$1" -U "$ADMIN_USER" -d "$2" -c "$3"
}
admin_psql() {  # admin_psql DB SQL (on the source)
    admin_psql_at "$SRC_PORT" "$1" "$2"
}

# init_pgbench PORT NAME: pgbench tables at SCALE in $BENCH_DB on that cluster
init_pgbench() {
    local port=$1 name=$2 cur_scale
    if [[ $(admin_psql_at "$port" postgres "select count(*) from pg_database where datname = '$BENCH_DB'") == 0 ]]; then
        log "creating database $BENCH_DB${name:+ on the $name}"
        admin_psql_at "$port" postgres "create database $BENCH_DB"
    fi
    cur_scale=$(admin_psql_at "$port" "$BENCH_DB" "select count(*) from pgbench_branches" 2>/dev/null || echo 0)
    if [[ $cur_scale == "$SCALE" ]]; then
        log "pgbench tables already at scale $SCALE${name:+ on the $name}"
    else
        log "pgbench -i -s $SCALE $BENCH_DB${name:+ on the $name}"
        PGPASSWORD=$ADMIN_PW pgbench -i -q -s "$SCALE" -h "$HOST" -p "$port" -U "$ADMIN_USER" "$BENCH_DB" \
            >"$TMP/pgbench-init.log" 2>&1 || { cat "$TMP/pgbench-init.log" >&2; die "pgbench -i failed"; }
    fi
}

PG_VERSION=$(admin_psql postgres "show server_version")
find_postmasters
# which clusters got their shared memory on 2 MiB pages (all or none, each)
HUGE_CLUSTERS=""
[[ -n $SRC_PM ]] && pm_on_hugepages "$SRC_PM" && HUGE_CLUSTERS=source
[[ -n $TGT_PM ]] && pm_on_hugepages "$TGT_PM" && HUGE_CLUSTERS="${HUGE_CLUSTERS:+$HUGE_CLUSTERS,}target"
log "clusters with shared memory on 2 MiB pages: ${HUGE_CLUSTERS:-none}"
if [[ $RUN_BENCH -eq 1 ]]; then
    if [[ $SHADOW -eq 1 ]]; then
        init_pgbench "$SRC_PORT" source
        init_pgbench "$TGT_PORT" target
    else
        init_pgbench "$SRC_PORT" ""
    fi
fi

# ---- anchors ------------------------------------------------------------------
start_pgbouncer() {
    local dir=$TMP/pgbouncer secrets
    mkdir -p "$dir"
    # SCRAM secrets straight from pg_authid: PgBouncer verifies the client's
    # SCRAM proof with them and, because the client proved knowledge of the
    # same secret, can log in to PostgreSQL with SCRAM on its behalf.
    secrets=$(admin_psql postgres \
        "select format('%s %s', quote_ident(rolname), rolpassword) from pg_authid
          where rolname in ('$ADMIN_USER', '$APP_USER') and rolpassword is not null")
    : >"$dir/userlist.txt"
    while read -r user secret; do
        user=${user#\"} user=${user%\"}
        printf '"%s" "%s"\n' "$user" "$secret" >>"$dir/userlist.txt"
    done <<<"$secrets"
    cat >"$dir/pgbouncer.ini" <<EOF
[databases]
$BENCH_DB = host=$HOST port=$SRC_PORT dbname=$BENCH_DB
$APP_DB = host=$HOST port=$SRC_PORT dbname=$APP_DB

[pgbouncer]
listen_addr = $HOST
listen_port = $PGB_PORT
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $dir/userlist.txt
pool_mode = session
max_client_conn = 11000
default_pool_size = 100
server_tls_sslmode = disable
client_tls_sslmode = disable
ignore_startup_parameters = extra_float_digits
client_login_timeout = 300
logfile = $dir/pgbouncer.log
log_connections = 0
log_disconnections = 0
EOF
    chmod 0600 "$dir/userlist.txt" "$dir/pgbouncer.ini"
    port_in_use "$PGB_PORT" && die "port $PGB_PORT already in use"
    if [[ $IS_ROOT -eq 1 ]]; then
        chown -R postgres: "$dir"
        ( raise_nofile; exec setpriv --reuid=postgres --regid=postgres --init-groups -- pgbouncer "$dir/pgbouncer.ini" ) \
            >"$dir/stdout.log" 2>&1 &
    else
        ( raise_nofile; exec pgbouncer "$dir/pgbouncer.ini" ) >"$dir/stdout.log" 2>&1 &
    fi
    PGB_PID=$!
    if ! wait_port "$PGB_PORT" "$PGB_PID" 15; then
        tail -n 20 "$dir/pgbouncer.log" "$dir/stdout.log" >&2 2>/dev/null || true
        die "PgBouncer did not start"
    fi
    log "PgBouncer $(pgbouncer --version | head -n 1 | awk '{print $2}') on $HOST:$PGB_PORT (pid $PGB_PID, nofile $(proc_nofile "$PGB_PID"))"
}

HAP_MAXCONN=20000
start_haproxy() {
    local dir=$TMP/haproxy nofile fit
    mkdir -p "$dir"
    # every proxied connection takes two descriptors; without CAP_SYS_RESOURCE
    # the hard limit caps what HAProxy can hold, so shrink maxconn to fit
    nofile=$(raise_nofile; ulimit -Sn)
    if [[ $nofile != unlimited ]]; then
        fit=$(((nofile - 40) / 2))
        if [[ $fit -lt $HAP_MAXCONN ]]; then
            log "NOTE: open-files limit is $nofile (cannot raise it here); HAProxy maxconn lowered from $HAP_MAXCONN to $fit"
            HAP_MAXCONN=$fit
        fi
    fi
    write_haproxy_cfg "$dir/haproxy.cfg" "$HAP_MAXCONN" pg "$HAP_PORT" "$SRC_PORT"
    cat >>"$dir/haproxy.cfg" <<EOF

# only for the idle-connection memory test (PostgreSQL would fork a backend
# per connection); nothing listens on $SINK_PORT outside that test
listen idle_sink
    bind $HOST:$HAP_IDLE_PORT
    maxconn $HAP_MAXCONN
    server sink $HOST:$SINK_PORT
EOF
    port_in_use "$HAP_PORT" && die "port $HAP_PORT already in use"
    haproxy -c -q -f "$dir/haproxy.cfg" || die "haproxy config check failed"
    ( raise_nofile; exec haproxy -f "$dir/haproxy.cfg" -db ) >"$dir/haproxy.log" 2>&1 &
    HAP_PID=$!
    if ! wait_port "$HAP_PORT" "$HAP_PID" 15; then
        tail -n 20 "$dir/haproxy.log" >&2 || true
        die "HAProxy did not start"
    fi
    log "HAProxy $(haproxy -v | head -n 1 | awk '{print $3}') on $HOST:$HAP_PORT (pid $HAP_PID, nofile $(proc_nofile "$HAP_PID"))"
}

pg_url() {  # pg_url PORT
    echo "postgresql://$ADMIN_USER:$ADMIN_PW@$HOST:$1/$BENCH_DB?sslmode=disable"
}

# launch_lms MODE TARGET_PORT: start molt-lms in that shadow mode with
# INIT_TARGET on that port; 0 once /readyz answers, else 1 with the process
# stopped (its log is $TMP/molt-lms.log)
launch_lms() {
    local mode=$1 tport=$2 i
    if port_in_use "$LMS_PORT" || port_in_use "$LMS_METRICS_PORT"; then
        die "port $LMS_PORT or $LMS_METRICS_PORT already in use"
    fi
    mkdir -p "$TMP/lms"
    # in its own directory: whatever it writes by default (e.g. a mismatch log) stays in the temp dir
    ( cd "$TMP/lms" && raise_nofile && exec "${SIDE_PIN[@]}" "$LMS_BIN" --listen "$HOST:$LMS_PORT" \
        --metrics-listen "$HOST:$LMS_METRICS_PORT" \
        --plugin-dir "$LMS_PLUGIN_DIR" --allow-tls-mode-disable \
        --init-source "$(pg_url "$SRC_PORT")" --init-target "$(pg_url "$tport")" \
        --source-dialect postgres --shadow-mode "$mode" --log-level warn "${LMS_EXTRA_ARGS[@]}" ) \
        >"$TMP/molt-lms.log" 2>&1 &
    LMS_PID=$!
    for ((i = 0; i < 300; i++)); do
        if ! kill -0 "$LMS_PID" 2>/dev/null; then
            break
        fi
        if curl -fsS -o /dev/null --max-time 1 "http://$HOST:$LMS_METRICS_PORT/readyz" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    stop_pid "$LMS_PID"
    LMS_PID=""
    return 1
}

start_lms() {  # returns 1 (and drops the target) if molt-lms does not come up
    if launch_lms none "$SRC_PORT"; then
        log "molt-lms on $HOST:$LMS_PORT (pid $LMS_PID, nofile $(proc_nofile "$LMS_PID"))"
        return 0
    fi
    log "NOTE: molt-lms did not become ready (http://$HOST:$LMS_METRICS_PORT/readyz); skipping it. Log tail:"
    tail -n 20 "$TMP/molt-lms.log" >&2 || true
    drop_target lms
    return 1
}

# ---- /proc helpers --------------------------------------------------------------
tree_rss_kb() {  # sum of VmRSS (kB) over the process tree
    local p sum=0 v
    for p in $(proc_tree "$1"); do
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
        sum=$((sum + ${v:-0}))
    done
    echo "$sum"
}

tree_fds() {
    local p sum=0 n
    for p in $(proc_tree "$1"); do
        n=$(find "/proc/$p/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
        sum=$((sum + n))
    done
    echo "$sum"
}

# ---- pgbench runs ---------------------------------------------------------------
target_port() {
    case $1 in
        direct) echo "$SRC_PORT" ;;
        pgbouncer) echo "$PGB_PORT" ;;
        haproxy) echo "$HAP_PORT" ;;
        lms|lms-*) echo "$LMS_PORT" ;;
    esac
}

# pct_stats: numbers on stdin -> "count p50 p99" (nearest rank), NA if empty
pct_stats() {
    sort -n -S 25% | awk '{v[NR] = $1}
        END {
            if (NR == 0) { print 0, "NA", "NA"; exit }
            i50 = int((NR * 50 + 99) / 100); i99 = int((NR * 99 + 99) / 100)
            print NR, v[i50], v[i99]
        }'
}

RAW_TSV=$TMP/raw.tsv
IDLE_TSV=$TMP/idle.tsv
printf 'workload\ttarget\tround\tstatus\ttps\ttxns\tfailed\tlat_p50_us\tlat_p99_us\tcycle_p50_us\tcycle_p99_us\tcpu_us_per_tx\tclient_cpu_us_per_tx\tsrc_cpu_us_per_tx\ttgt_cpu_us_per_tx\n' >"$RAW_TSV"
printf 'test\tproxy\tconns_requested\tconns_opened\tconns_failed\tclosed_by_peer\trss_before_kb\trss_during_kb\trss_after_kb\tfds_before\tfds_during\taccept_queue\tnofile\tserver_backends\tnote\n' >"$IDLE_TSV"

run_pgbench() {  # run_pgbench WORKLOAD TARGET ROUND
    local w=$1 t=$2 r=$3 port prefix out rc=0 status=ok tps txns failed lat cyc ppid cpu0="" cpu="NA"
    local s0 t0 scpu tcpu sn tn
    local -a args
    port=$(target_port "$t")
    prefix=$TMP/logs/$w.$t.$r
    mkdir -p "$TMP/logs"
    args=(-h "$HOST" -p "$port" -U "$ADMIN_USER" -c "$CLIENTS" -j "$THREADS" -T "$DURATION" -n
          -l "--log-prefix=$prefix")
    # shadow_tpcb: pgbench's default TPC-B-like script; all others select-only
    [[ $w == shadow_tpcb ]] || args+=(-S)
    [[ $w == select_connect ]] && args+=(-C)
    ppid=$(proxy_pid "$t")
    [[ -n $ppid ]] && cpu0=$(tree_cpu_ticks "$ppid")
    sn=$(cluster_children "$SRC_PM") tn=$(cluster_children "$TGT_PM")
    s0=$(cluster_cpu_ticks "$SRC_PM") t0=$(cluster_cpu_ticks "$TGT_PM")
    rm -f "$prefix.times"
    # in the background so that a signal is handled at once (cleanup stops it);
    # with --shadow under a watchdog: a shadow side that never answers must not
    # hang the whole run; 'times' gives pgbench's own CPU
    if [[ $SHADOW -eq 1 ]]; then
        ( c=0; PGPASSWORD=$ADMIN_PW timeout -k 5 "$((DURATION + WATCHDOG_GRACE))" "${SIDE_PIN[@]}" \
            pgbench "${args[@]}" "$BENCH_DB" >"$prefix.out" 2>&1 || c=$?; times >"$prefix.times"; exit $c ) &
    else
        ( c=0; PGPASSWORD=$ADMIN_PW pgbench "${args[@]}" "$BENCH_DB" >"$prefix.out" 2>&1 || c=$?
          times >"$prefix.times"; exit $c ) &
    fi
    PGBENCH_PID=$!
    wait "$PGBENCH_PID" || rc=$?
    PGBENCH_PID=""
    out=$(<"$prefix.out")
    if [[ -n $cpu0 ]]; then
        # the proxy's CPU per transaction: what it costs, whatever the noise
        cpu=$(($(tree_cpu_ticks "$ppid") - cpu0))
    fi
    scpu=NA tcpu=NA
    settle_clusters "$sn" "$tn"
    [[ -n $s0 ]] && scpu=$(($(cluster_cpu_ticks "$SRC_PM") - s0))
    [[ -n $t0 ]] && tcpu=$(($(cluster_cpu_ticks "$TGT_PM") - t0))
    tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out" | head -n 1)
    txns=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out" | head -n 1)
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' <<<"$out" | head -n 1)
    if [[ $SHADOW -eq 1 && ($rc -eq 124 || $rc -eq 137) ]]; then
        status="timeout"
        log "pgbench $w against $t did not finish within $((DURATION + WATCHDOG_GRACE)) s; stopped:"
        grep -v '^progress' <<<"$out" | tail -n 5 >&2 || true
    elif [[ $rc -ne 0 || -z $tps ]]; then
        status="error(rc=$rc)"
        log "pgbench $w against $t failed (rc=$rc):"
        grep -v '^progress' <<<"$out" | tail -n 5 >&2 || true
    fi
    # column 3: transaction latency in microseconds (connection time excluded)
    lat=$(cat "$prefix".[0-9]* 2>/dev/null | awk '$3 ~ /^[0-9]+$/ {print $3}' | pct_stats)
    # per-client time between successive completions (columns 5/6: epoch s/us);
    # with -C this is connect + transaction + disconnect
    cyc=$(cat "$prefix".[0-9]* 2>/dev/null | awk '$5 ~ /^[0-9]+$/ && $6 ~ /^[0-9]+$/ {
            t = $5 * 1000000 + $6
            if ($1 in prev) print t - prev[$1]
            prev[$1] = t
        }' | pct_stats)
    rm -f "$prefix".[0-9]*
    read -r _ lat50 lat99 <<<"$lat"
    read -r _ cyc50 cyc99 <<<"$cyc"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$w" "$t" "$r" "$status" "${tps:-NA}" \
        "${txns:-NA}" "${failed:-NA}" "$lat50" "$lat99" "$cyc50" "$cyc99" \
        "$(cpu_per_tx "$cpu" "${txns:-}")" "$(us_per_tx "$(times_us "$prefix.times")" "${txns:-}")" \
        "$(cpu_per_tx "$scpu" "${txns:-}")" "$(cpu_per_tx "$tcpu" "${txns:-}")" >>"$RAW_TSV"
    awk -v r="$r" -v R="$ROUNDS" -v w="$w" -v t="$t" -v tps="${tps:-NA}" -v a="$lat50" -v b="$lat99" \
        -v c="$cyc50" -v d="$cyc99" -v s="$status" 'function ms(x) { return x == "NA" ? "NA" : sprintf("%.3f", x / 1000) }
        BEGIN { printf "[round %d/%d] %-15s %-10s tps=%-11s lat p50/p99=%s/%s ms  cycle p50/p99=%s/%s ms  %s\n",
                r, R, w, t, tps, ms(a), ms(b), ms(c), ms(d), s }'
}

# cpu_per_tx TICKS TXNS: microseconds of CPU per transaction, or NA
cpu_per_tx() {
    [[ $1 =~ ^[0-9]+$ && $2 =~ ^[0-9]+$ && $2 -gt 0 ]] || { echo NA; return; }
    awk -v t="$1" -v n="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t * 1e6 / hz / n }'
}

# us_per_tx MICROSECONDS TXNS: per transaction, or NA
us_per_tx() {
    [[ $1 =~ ^[0-9]+$ && $2 =~ ^[0-9]+$ && $2 -gt 0 ]] || { echo NA; return; }
    awk -v t="$1" -v n="$2" 'BEGIN { printf "%.2f", t / n }'
}

# ---- idle connection memory -----------------------------------------------------
proxy_pid() {
    case $1 in
        pgbouncer) echo "$PGB_PID" ;;
        haproxy) echo "$HAP_PID" ;;
        lms|lms-*) echo "$LMS_PID" ;;
    esac
}

# wait until the proxy's descriptor count stops changing (it may still be
# accepting connections that the kernel already completed)
settle_fds() {
    local pid=$1 prev=-1 cur i
    for ((i = 0; i < 60; i++)); do
        cur=$(tree_fds "$pid")
        [[ $cur -eq $prev ]] && break
        prev=$cur
        sleep 1
    done
}

app_backends() {
    admin_psql postgres "select count(*) from pg_stat_activity where usename = '$APP_USER' and datname = '$APP_DB'"
}

# restart a proxy so that the idle tests start from a fresh process: allocators
# and connection pools keep memory after a load, which would hide the cost
restart_proxy() {
    case $1 in
        pgbouncer) stop_pid "$PGB_PID"; PGB_PID=""; start_pgbouncer ;;
        haproxy) stop_pid "$HAP_PID"; HAP_PID=""; start_haproxy ;;
        lms) stop_pid "$LMS_PID"; LMS_PID=""; start_lms ;;
    esac
}

# idle_test KIND PROXY: KIND is tcp (no startup packet) or pg (authenticated sessions)
idle_test() {
    local kind=$1 proxy=$2 pid port count ready out status="" rss0 rss1 rss2 fd0 fd1 backends=NA note="" i aq backends0=0
    local sink_pid="" client_pid
    if ! restart_proxy "$proxy"; then
        log "idle $kind test against $proxy skipped: it did not restart"
        return 0
    fi
    pid=$(proxy_pid "$proxy")
    port=$(target_port "$proxy")
    ready=$TMP/idle.$kind.$proxy.ready
    out=$TMP/idle.$kind.$proxy.out
    rm -f "$ready"
    if [[ $kind == tcp ]]; then
        count=$IDLE_CONNS
        if [[ $proxy == haproxy ]]; then
            port=$HAP_IDLE_PORT
            note="backend=tcp-sink"
            ( exec "$PY" "$SCRIPT_DIR/idle_conns.py" sink --host "$HOST" --port "$SINK_PORT" --hold 3600 \
                --ready-file "$ready.sink" ) >"$out.sink" 2>&1 &
            sink_pid=$!
            EXTRA_PIDS+=("$sink_pid")
            for ((i = 0; i < 100; i++)); do [[ -f $ready.sink ]] && break; sleep 0.1; done
            [[ -f $ready.sink ]] || die "TCP sink did not start: $(cat "$out.sink")"
        fi
    else
        count=$IDLE_SESSIONS
    fi
    sleep 1
    rss0=$(tree_rss_kb "$pid")
    fd0=$(tree_fds "$pid")
    [[ $kind == pg ]] && backends0=$(app_backends)
    if [[ $kind == tcp ]]; then
        ( exec "$PY" "$SCRIPT_DIR/idle_conns.py" tcp --host "$HOST" --port "$port" --count "$count" \
            --hold 3600 --ready-file "$ready" ) >"$out" 2>&1 &
    else
        ( exec "$PY" "$SCRIPT_DIR/idle_conns.py" pg --count "$count" --hold 3600 --ready-file "$ready" \
            --dsn "host=$HOST port=$port user=$APP_USER password=$APP_PW dbname=$APP_DB sslmode=disable" ) \
            >"$out" 2>&1 &
    fi
    client_pid=$!
    EXTRA_PIDS+=("$client_pid")
    for ((i = 0; i < 6000; i++)); do
        [[ -f $ready ]] && break
        kill -0 "$client_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [[ ! -f $ready ]]; then
        log "idle $kind test against $proxy: client did not get ready: $(tail -n 3 "$out")"
        stop_pid "$client_pid"; stop_pid "$sink_pid"
        return 0
    fi
    settle_fds "$pid"
    sleep 1
    rss1=$(tree_rss_kb "$pid")
    fd1=$(tree_fds "$pid")
    # connections the kernel completed but the proxy has not accepted
    aq=$(ss -Hltn "sport = :$port" | awk '{print $2; exit}')
    [[ $kind == pg ]] && backends=$(($(app_backends) - backends0))
    stop_pid "$client_pid"
    status=$(tail -n 1 "$out")
    sleep 2
    rss2=$(tree_rss_kb "$pid")
    stop_pid "$sink_pid"
    # opened / failed / closed_by_peer from the client's JSON summary
    read -r opened failedc closed < <("$PY" -c 'import json,sys
try:
    d = json.loads(sys.argv[1])
except ValueError:
    d = {}
print(d.get("opened", "NA"), d.get("failed", "NA"), d.get("closed_by_peer", "NA"))' "$status")
    if [[ -n $(sed -n 's/.*"first_error": "\([^"]*\)".*/\1/p' <<<"$status") ]]; then
        note="${note:+$note; }first_error=$(sed -n 's/.*"first_error": "\([^"]*\)".*/\1/p' <<<"$status" | tr '\t\n' '  ')"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$proxy" "$count" "$opened" \
        "$failedc" "$closed" "$rss0" "$rss1" "$rss2" "$fd0" "$fd1" "${aq:-NA}" "$(proc_nofile "$pid")" "$backends" \
        "$note" >>"$IDLE_TSV"
    log "idle $kind $proxy: opened=$opened failed=$failedc closed_by_peer=$closed not_accepted=${aq:-NA} rss ${rss0} -> ${rss1} kB (after close ${rss2} kB), fds $fd0 -> $fd1${note:+ ($note)}"
}

# ---- shadowing benchmark (--shadow) ------------------------------------------------
# extra per-run facts (failure reason, shadow metrics, baseline mismatches),
# joined with $RAW_TSV by workload/target/round in the report
SHADOW_TSV=$TMP/shadow-extra.tsv
printf 'workload\ttarget\tround\tnote\textra\n' >"$SHADOW_TSV"
SHADOW_WORKLOADS=(shadow_select shadow_tpcb)

build_dual_client() {
    DUAL_BIN=$TMP/dual_client
    # shellcheck disable=SC2046 # pkg-config prints several words on purpose
    if ! cc -O2 -std=c11 -Wall -o "$DUAL_BIN" "$SCRIPT_DIR/dual_client.c" \
            $(pkg-config --cflags --libs libpq) -lpthread >"$TMP/dual_client.build.log" 2>&1; then
        cat "$TMP/dual_client.build.log" >&2
        die "building bench/dual_client.c failed"
    fi
}

# the same data on both databases before every TPC-B-like run (what pgbench
# does before a run without -n, plus the balances, which the last run changed
# and an async or failed shadow may have left different on the target)
reset_pgbench_data() {
    local port
    for port in "$SRC_PORT" "$TGT_PORT"; do
        PGPASSWORD=$ADMIN_PW psql -X -q -At -v ON_ERROR_STOP=1 -h "$HOST" -p "$port" -U "$ADMIN_USER" -d "$BENCH_DB" \
            -c "update pgbench_accounts set abalance = 0 where abalance <> 0" \
            -c "update pgbench_tellers set tbalance = 0 where tbalance <> 0" \
            -c "update pgbench_branches set bbalance = 0 where bbalance <> 0" \
            -c "truncate pgbench_history" \
            -c "vacuum pgbench_branches" -c "vacuum pgbench_tellers" >/dev/null ||
            die "resetting the pgbench tables on port $port failed"
    done
}

note_row() {  # note_row WORKLOAD TARGET ROUND NOTE EXTRA
    local note=${4//[$'\t\n']/ }
    printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$note" "$5" >>"$SHADOW_TSV"
}

# a run that could not take place: a row with no figures, and why
unavailable_row() {  # unavailable_row WORKLOAD TARGET ROUND REASON
    printf '%s\t%s\t%s\tunavailable\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\n' "$1" "$2" "$3" >>"$RAW_TSV"
    note_row "$1" "$2" "$3" "$4" ""
    printf '[round %d/%d] %-15s %-15s UNAVAILABLE: %s\n' "$3" "$ROUNDS" "$1" "$2" "$4"
}

lms_leg() {  # lms_leg WORKLOAD MODE ROUND
    local w=$1 mode=$2 r=$3 t=lms-$2 reason metrics
    if [[ ! -x $LMS_BIN ]]; then
        unavailable_row "$w" "$t" "$r" "molt-lms binary not found at $LMS_BIN"
        return 0
    fi
    if ! launch_lms "$mode" "$TGT_PORT"; then
        # the last thing it said is why (e.g. a shadow mode this build refuses)
        reason=$(grep -v '^[[:space:]]*$' "$TMP/molt-lms.log" | tail -n 1 | cut -c 1-300)
        unavailable_row "$w" "$t" "$r" "molt-lms --shadow-mode $mode did not start: ${reason:-no output}"
        cp "$TMP/molt-lms.log" "$TMP/molt-lms.$w.$mode.$r.log" 2>/dev/null || true
        return 0
    fi
    run_pgbench "$w" "$t" "$r"
    # what the proxy counted about shadowing during this run (it was started
    # for it); per-fingerprint series are left to GET /api/v1/mismatches
    metrics=$(curl -fsS --max-time 5 "http://$HOST:$LMS_METRICS_PORT/metrics" 2>/dev/null |
        awk '(/^lms_shadow/ && !/^lms_shadow_fingerprint/) || (/^lms_(requests|errors)_total/ && $NF != "0") { printf "%s%s=%s", sep, $1, $NF; sep = ";" }' ||
        true)
    stop_pid "$LMS_PID"
    LMS_PID=""
    cp "$TMP/molt-lms.log" "$TMP/molt-lms.$w.$mode.$r.log" 2>/dev/null || true
    note_row "$w" "$t" "$r" "" "$metrics"
}

# dual_leg WORKLOAD TARGET ROUND: TARGET baseline (both databases at once),
# baseline-seq (source, then target) or client-cal (the same client, source only)
dual_leg() {
    local w=$1 t=$2 r=$3 script=select out rc=0 status=ok res tps txns failed lat50 lat99 extra
    local s0 t0 scpu=NA tcpu=NA sn tn
    local -a args
    [[ $w == shadow_tpcb ]] && script=tpcb
    out=$TMP/logs/$w.$t.$r
    mkdir -p "$TMP/logs"
    args=(--source "$(pg_url "$SRC_PORT")" --script "$script" --clients "$CLIENTS" --time "$DURATION"
          --scale "$SCALE")
    [[ $t == baseline* ]] && args+=(--target "$(pg_url "$TGT_PORT")" --target-lock-timeout "$TGT_LOCK_TIMEOUT")
    [[ $t == baseline-seq ]] && args+=(--sequential)
    sn=$(cluster_children "$SRC_PM") tn=$(cluster_children "$TGT_PM")
    s0=$(cluster_cpu_ticks "$SRC_PM") t0=$(cluster_cpu_ticks "$TGT_PM")
    rm -f "$out.times"
    ( c=0; timeout -k 5 "$((DURATION + WATCHDOG_GRACE))" "${SIDE_PIN[@]}" "$DUAL_BIN" "${args[@]}" >"$out.out" \
        2>"$out.err" || c=$?; times >"$out.times"; exit $c ) &
    PGBENCH_PID=$!
    wait "$PGBENCH_PID" || rc=$?
    PGBENCH_PID=""
    settle_clusters "$sn" "$tn"
    [[ -n $s0 ]] && scpu=$(($(cluster_cpu_ticks "$SRC_PM") - s0))
    [[ -n $t0 ]] && tcpu=$(($(cluster_cpu_ticks "$TGT_PM") - t0))
    res=$(grep '^RESULT ' "$out.out" | tail -n 1)
    field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $res"; }
    tps=$(field tps) txns=$(field txns) failed=$(field failed)
    lat50=$(field lat_p50_us) lat99=$(field lat_p99_us)
    extra="mismatches=$(field mismatches);target_errors=$(field target_errors)"
    if [[ $rc -eq 124 || $rc -eq 137 ]]; then
        status=timeout
    elif [[ $rc -ne 0 || -z $tps ]]; then
        status="error(rc=$rc)"
    fi
    if [[ $status != ok ]]; then
        log "dual_client $w ($t) failed ($status):"
        tail -n 5 "$out.err" >&2 || true
        [[ $status == timeout ]] && tps="" txns="" failed="" lat50="" lat99=""
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\tNA\tNA\tNA\t%s\t%s\t%s\n' "$w" "$t" "$r" "$status" "${tps:-NA}" \
        "${txns:-NA}" "${failed:-NA}" "${lat50:-NA}" "${lat99:-NA}" \
        "$(us_per_tx "$(times_us "$out.times")" "${txns:-}")" \
        "$(cpu_per_tx "$scpu" "${txns:-}")" "$(cpu_per_tx "$tcpu" "${txns:-}")" >>"$RAW_TSV"
    note_row "$w" "$t" "$r" "$(grep -m 1 -v '^dual_client: mismatch' "$out.err" || true)" \
        "$([[ $t == baseline* ]] && echo "$extra")"
    awk -v r="$r" -v R="$ROUNDS" -v w="$w" -v t="$t" -v tps="${tps:-NA}" -v a="${lat50:-NA}" -v b="${lat99:-NA}" \
        -v s="$status" -v x="$([[ $t == baseline* ]] && echo "$extra")" \
        'function ms(x) { return x == "NA" ? "NA" : sprintf("%.3f", x / 1000) }
        BEGIN { printf "[round %d/%d] %-15s %-15s tps=%-11s lat p50/p99=%s/%s ms  %s %s\n",
                r, R, w, t, tps, ms(a), ms(b), s, x }'
}

# one whole shadowing benchmark with the placement in effect, and its report
shadow_pass() {
    local json_out r w k n t
    head -n 1 "$RAW_TSV" >"$RAW_TSV.new" && mv "$RAW_TSV.new" "$RAW_TSV"
    head -n 1 "$SHADOW_TSV" >"$SHADOW_TSV.new" && mv "$SHADOW_TSV.new" "$SHADOW_TSV"
    LEGS=(direct)
    for m in "${MODE_LIST[@]}"; do LEGS+=("lms-$m"); done
    LEGS+=(baseline baseline-seq client-cal)
    log "shadow legs: ${LEGS[*]}; source $HOST:$SRC_PORT, target $HOST:$TGT_PORT; rounds=$ROUNDS" \
        "duration=${DURATION}s clients=$CLIENTS threads=$THREADS scale=$SCALE target-cpu=$TARGET_CPU"
    n=${#LEGS[@]}
    for ((r = 1; r <= ROUNDS; r++)); do
        for w in "${SHADOW_WORKLOADS[@]}"; do
            for ((k = 0; k < n; k++)); do
                t=${LEGS[$(((k + r - 1) % n))]}
                # identical data on both sides for every write run and before the
                # reads (a lossy run before them must not make them mismatch)
                if [[ $w == shadow_tpcb || $k -eq 0 ]]; then reset_pgbench_data; fi
                case $t in
                    direct) run_pgbench "$w" "$t" "$r"; note_row "$w" "$t" "$r" "" "" ;;
                    lms-*) lms_leg "$w" "${t#lms-}" "$r" ;;
                    baseline|baseline-seq|client-cal) dual_leg "$w" "$t" "$r" ;;
                esac
            done
        done
    done

    mkdir -p "$RESULTS_DIR"
    json_out=$RESULTS_DIR/$START_TS-shadow.json
    [[ ${#CPU_LIST[@]} -gt 1 ]] && json_out=$RESULTS_DIR/$START_TS-shadow-$TARGET_CPU.json
    LMS_VERSION=""
    [[ -x $LMS_BIN ]] && LMS_VERSION=$("$LMS_BIN" --version 2>/dev/null | head -n 1 || true)
    B_LEGS="${LEGS[*]}" B_TS=$START_TS B_ROUNDS=$ROUNDS B_DURATION=$DURATION B_CLIENTS=$CLIENTS \
    B_THREADS=$THREADS B_SCALE=$SCALE B_NPROC=$(nproc) B_KERNEL=$(uname -r) B_PG_VERSION=$PG_VERSION \
    B_LMS_VERSION=$LMS_VERSION B_SRC_PORT=$SRC_PORT B_TGT_PORT=$TGT_PORT B_LMS_PORT=$LMS_PORT \
    B_LOCK_TIMEOUT=$TGT_LOCK_TIMEOUT B_LMS_ARGS="${LMS_EXTRA_ARGS[*]}" B_TARGET_CPU=$TARGET_CPU \
    B_HUGE_PAGES=$HUGE_PAGES B_HUGE_CLUSTERS=$HUGE_CLUSTERS \
    "$PY" "$SCRIPT_DIR/shadow_report.py" "$RAW_TSV" "$SHADOW_TSV" "$json_out"
}

if [[ $SHADOW -eq 1 ]]; then
    build_dual_client
    START_TS=$(date -u +%Y%m%dT%H%M%SZ)
    for c in "${CPU_LIST[@]}"; do
        place_clusters "$c"
        shadow_pass
        unplace_clusters
    done
    exit 0
fi

# ---- main -------------------------------------------------------------------------
has_target pgbouncer && start_pgbouncer
has_target haproxy && start_haproxy
if has_target lms; then start_lms || true; fi

log "targets: ${TARGET_LIST[*]}; rounds=$ROUNDS duration=${DURATION}s clients=$CLIENTS threads=$THREADS; 2 MiB pages in use: $(hugepages_in_use); PgBouncer pool: $PGB_POOL"
START_TS=$(date -u +%Y%m%dT%H%M%SZ)
WORKLOADS=(select select_connect)

if [[ $RUN_BENCH -eq 1 ]]; then
    n=${#TARGET_LIST[@]}
    for ((r = 1; r <= ROUNDS; r++)); do
        for w in "${WORKLOADS[@]}"; do
            # rotate the start target every round to spread position effects
            for ((k = 0; k < n; k++)); do
                t=${TARGET_LIST[$(((k + r - 1) % n))]}
                # new server connections for PgBouncer too, as the others must open
                [[ $t == pgbouncer && $PGB_POOL == fresh ]] && restart_proxy pgbouncer
                run_pgbench "$w" "$t" "$r"
            done
        done
    done
fi

if [[ $RUN_IDLE -eq 1 ]]; then
    for proxy in pgbouncer haproxy lms; do
        has_target "$proxy" || continue
        idle_test tcp "$proxy"
        has_target "$proxy" || continue
        idle_test pg "$proxy"
    done
fi

# ---- report --------------------------------------------------------------------------
mkdir -p "$RESULTS_DIR"
JSON_OUT=$RESULTS_DIR/$START_TS.json
LMS_VERSION=""
if [[ -n $LMS_PID ]]; then LMS_VERSION=$("$LMS_BIN" --version 2>/dev/null | head -n 1 || true); fi

B_TARGETS="${TARGET_LIST[*]}" B_TS=$START_TS B_ROUNDS=$ROUNDS B_DURATION=$DURATION B_CLIENTS=$CLIENTS \
B_THREADS=$THREADS B_SCALE=$SCALE B_IDLE_CONNS=$IDLE_CONNS B_IDLE_SESSIONS=$IDLE_SESSIONS \
B_NPROC=$(nproc) B_KERNEL=$(uname -r) B_PG_VERSION=$PG_VERSION B_LMS_VERSION=$LMS_VERSION \
B_PGB_VERSION=$(pgbouncer --version 2>/dev/null | head -n 1 | awk '{print $2}' || true) \
B_HAP_VERSION=$(haproxy -v 2>/dev/null | head -n 1 | awk '{print $3}' || true) \
B_HAP_MAXCONN=$HAP_MAXCONN B_HUGE_PAGES=$HUGE_PAGES B_HUGE_IN_USE=$(hugepages_in_use) B_HUGE_CLUSTERS=$HUGE_CLUSTERS B_PGB_POOL=$PGB_POOL B_SRC_PORT=$SRC_PORT B_PGB_PORT=$PGB_PORT B_HAP_PORT=$HAP_PORT B_LMS_PORT=$LMS_PORT B_APP_USER=$APP_USER \
"$PY" - "$RAW_TSV" "$IDLE_TSV" "$JSON_OUT" <<'PYEOF'
import csv, json, os, statistics, sys

E = os.environ

raw_path, idle_path, json_path = sys.argv[1:4]
targets = E["B_TARGETS"].split()
opts = "-c %s -j %s -T %s -n" % (E["B_CLIENTS"], E["B_THREADS"], E["B_DURATION"])
workloads = {
    "select": "pgbench -S %s (select-only, simple protocol)" % opts,
    "select_connect": "pgbench -S -C %s (new connection per transaction)" % opts,
}

def num(x):
    for conv in (int, float):
        try:
            return conv(x)
        except (TypeError, ValueError):
            pass
    return None

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None

with open(raw_path) as f:
    raw = list(csv.DictReader(f, delimiter="\t"))
with open(idle_path) as f:
    idle = list(csv.DictReader(f, delimiter="\t"))

result = {
    "timestamp": E["B_TS"],
    "config": {"rounds": int(E["B_ROUNDS"]), "duration_s": int(E["B_DURATION"]),
               "clients": int(E["B_CLIENTS"]), "threads": int(E["B_THREADS"]),
               "scale": int(E["B_SCALE"]), "targets": targets, "idle_conns": int(E["B_IDLE_CONNS"]),
               "idle_sessions": int(E["B_IDLE_SESSIONS"]), "sslmode": "disable",
               "haproxy_maxconn": int(E["B_HAP_MAXCONN"]), "huge_pages": E["B_HUGE_PAGES"],
               "huge_pages_in_use": int(E["B_HUGE_IN_USE"] or 0),
               "huge_pages_clusters": E["B_HUGE_CLUSTERS"], "pgbouncer_pool": E["B_PGB_POOL"]},
    "host": {"nproc": int(E["B_NPROC"]), "kernel": E["B_KERNEL"], "postgresql": E["B_PG_VERSION"],
             "pgbouncer": E["B_PGB_VERSION"], "haproxy": E["B_HAP_VERSION"],
             "molt_lms": E["B_LMS_VERSION"] or None},
    "ports": {"direct": int(E["B_SRC_PORT"]), "pgbouncer": int(E["B_PGB_PORT"]),
              "haproxy": int(E["B_HAP_PORT"]), "lms": int(E["B_LMS_PORT"])},
    "units": {"tps": "transactions/s", "latency": "ms",
              "lat": "pgbench -l column 3 (transaction only)",
              "cycle": "per-client time between completions (with -C: connect+txn+disconnect)"},
    "workloads": {},
    "idle": [],
}

def ms(us):
    return None if us is None else round(us / 1000.0, 3)

def fmt(x, spec):
    return "NA" if x is None else format(x, spec)

for w, desc in workloads.items():
    rows = [r for r in raw if r["workload"] == w]
    if not rows:
        continue
    lat_key = "cycle" if w == "select_connect" else "lat"
    summary = {}
    for t in targets:
        ok = [r for r in rows if r["target"] == t and r["status"] == "ok"]
        summary[t] = {
            "rounds_ok": len(ok),
            "tps_median": med([num(r["tps"]) for r in ok]),
            "lat_p50_ms": ms(med([num(r["lat_p50_us"]) for r in ok])),
            "lat_p99_ms": ms(med([num(r["lat_p99_us"]) for r in ok])),
            "cycle_p50_ms": ms(med([num(r["cycle_p50_us"]) for r in ok])),
            "cycle_p99_ms": ms(med([num(r["cycle_p99_us"]) for r in ok])),
            "proxy_cpu_us_per_tx": med([num(r.get("cpu_us_per_tx")) for r in ok]),
        }
    for t in targets:
        for ref in ("direct", "pgbouncer", "haproxy"):
            a = summary[t]["tps_median"]
            b = summary.get(ref, {}).get("tps_median")
            summary[t]["tps_ratio_vs_" + ref] = round(a / b, 3) if a and b else None
    result["workloads"][w] = {
        "command": desc,
        "table_latency": lat_key,
        "summary": summary,
        "rounds": [{
            "round": int(r["round"]), "target": r["target"], "status": r["status"],
            "tps": num(r["tps"]), "txns": num(r["txns"]), "failed": num(r["failed"]),
            "lat_p50_ms": ms(num(r["lat_p50_us"])), "lat_p99_ms": ms(num(r["lat_p99_us"])),
            "cycle_p50_ms": ms(num(r["cycle_p50_us"])), "cycle_p99_ms": ms(num(r["cycle_p99_us"])),
        } for r in rows],
    }

    print()
    print("== %s: %s" % (w, desc))
    if lat_key == "cycle":
        print("   p50/p99 = per-client time between completions, i.e. connect + txn + disconnect")
    else:
        print("   p50/p99 = transaction latency from pgbench -l")
    print("%-10s %12s %9s %9s %9s %9s %9s %12s" % ("target", "tps(med)", "p50 ms", "p99 ms",
                                             "/direct", "/pgbounc", "/haproxy", "cpu us/tx"))
    for t in targets:
        s = summary[t]
        print("%-10s %12s %9s %9s %9s %9s %9s %12s" % (
            t, fmt(s["tps_median"], ".1f"), fmt(s[lat_key + "_p50_ms"], ".3f"),
            fmt(s[lat_key + "_p99_ms"], ".3f"), fmt(s["tps_ratio_vs_direct"], ".3f"),
            fmt(s["tps_ratio_vs_pgbouncer"], ".3f"), fmt(s["tps_ratio_vs_haproxy"], ".3f"),
            fmt(s["proxy_cpu_us_per_tx"], ".2f")))
    print("   cpu us/tx: user+system CPU of the proxy process per transaction (median over rounds)")
    print("   raw rounds:")
    print("   %-5s %-10s %12s %9s %9s %9s %9s  %s" % ("round", "target", "tps", "lat p50", "lat p99",
                                                     "cyc p50", "cyc p99", "status"))
    for r in sorted(rows, key=lambda r: (int(r["round"]), targets.index(r["target"]) if r["target"] in targets else 99)):
        print("   %-5s %-10s %12s %9s %9s %9s %9s  %s" % (
            r["round"], r["target"], fmt(num(r["tps"]), ".1f"),
            fmt(ms(num(r["lat_p50_us"])), ".3f"), fmt(ms(num(r["lat_p99_us"])), ".3f"),
            fmt(ms(num(r["cycle_p50_us"])), ".3f"), fmt(ms(num(r["cycle_p99_us"])), ".3f"), r["status"]))

if idle:
    print()
    print("== memory (VmRSS summed over the proxy's process tree)")
    print("%-5s %-10s %7s %7s %7s %11s %11s %10s %9s %8s  %s" % (
        "test", "proxy", "conns", "held", "fds", "before kB", "during kB", "delta kB", "B/conn", "backends",
        "note"))
    for r in idle:
        b, d, opened = num(r["rss_before_kb"]), num(r["rss_during_kb"]), num(r["conns_opened"])
        aq = num(r["accept_queue"]) or 0
        held = opened - aq if opened is not None else None
        delta = d - b if b is not None and d is not None else None
        per = delta * 1024 / held if delta is not None and held else None
        entry = {
            "test": "tcp_no_startup" if r["test"] == "tcp" else "authenticated_sessions",
            "proxy": r["proxy"], "conns_requested": num(r["conns_requested"]), "conns_opened": opened, "conns_held": held,
            "conns_failed": num(r["conns_failed"]), "closed_by_peer": num(r["closed_by_peer"]),
            "rss_before_kb": b, "rss_during_kb": d, "rss_after_close_kb": num(r["rss_after_kb"]),
            "rss_delta_kb": delta, "bytes_per_conn": round(per) if per is not None else None,
            "fds_before": num(r["fds_before"]), "fds_during": num(r["fds_during"]),
            "not_yet_accepted": num(r["accept_queue"]), "proxy_nofile": num(r["nofile"]),
            "server_backends": num(r["server_backends"]), "note": r["note"],
        }
        result["idle"].append(entry)
        print("%-5s %-10s %7s %7s %7s %11s %11s %10s %9s %8s  %s" % (
            r["test"], r["proxy"], r["conns_requested"], fmt(held, ".0f"), r["fds_during"], fmt(b, ".0f"),
            fmt(d, ".0f"),
            fmt(delta, ".0f"), fmt(per, ".0f"), r["server_backends"], r["note"]))
    print("   tcp = connected, no startup packet sent; pg = authenticated idle psycopg2 sessions")
    print("   held = client connections accepted by the proxy (opened minus those left in its accept queue)")
    print("   fds = descriptors held by the proxy while the clients were connected; B/conn = delta / held")
    print("   backends = new server sessions of user %s seen in pg_stat_activity during the pg test" % E["B_APP_USER"])

with open(json_path, "w") as f:
    json.dump(result, f, indent=2)
    f.write("\n")
print()
print("results written to", json_path)
PYEOF
