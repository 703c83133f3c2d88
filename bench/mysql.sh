#!/usr/bin/env bash
# bench/mysql.sh - molt-lms --source-dialect mysql against direct MariaDB and
# HAProxy (mode tcp), with sysbench, alternating between targets round by
# round.  See --help.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd -- "$SCRIPT_DIR/.." && pwd)
PY=/usr/bin/python3

# ---- defaults ---------------------------------------------------------------
ROUNDS=3
DURATION=20
THREADS=8
TABLES=4
TABLE_SIZE=10000
WORKLOADS="oltp_point_select,oltp_read_only"
TARGETS="direct,haproxy,lms,pg-direct,lms-pg"
LMS_BIN=${LMS_BIN:-$REPO_DIR/molt-lms}
LMS_PLUGIN_DIR=${LMS_PLUGIN_DIR:-$REPO_DIR/plugins/.libs}
LMS_WORKERS=""
EXTERNAL_MY_PORT=""
RESULTS_DIR=$SCRIPT_DIR/results
KEEP_TMP=0
HUGE_PAGES=auto     # --huge-pages: auto | off | a page count
HAP_PORT=16533
LMS_PORT=16534
LMS_METRICS_PORT=16544
LMS_PG_PORT=16535
LMS_PG_METRICS_PORT=16545
ORCH_PORT=16546
ORCH_BIN=${ORCH_BIN:-$REPO_DIR/molt-lms-orchestrator}
CLI_BIN=${CLI_BIN:-$REPO_DIR/molt-lms-cli}

HOST=127.0.0.1
MY_USER=lms_admin
MY_PW=lms-admin-pw
BENCH_DB=bench

usage() {
    cat <<EOF
Usage: bench/mysql.sh [options]

Benchmarks molt-lms (--source-dialect mysql, shadowMode none) against
MariaDB directly and HAProxy (mode tcp) in one run, alternating between the
targets inside every round (the order rotates each round) so that drift of
the machine affects all of them alike.

Steps:
  1. tests/mysql-cluster.sh start (MariaDB on 127.0.0.1:\$LMS_TEST_MYSQL_PORT,
     default 13306, data under \$LMS_TEST_DIR); it is stopped again on exit
     only if it was not running before.  Or --mysql-port: a MariaDB already
     running with the users of tests/mysql-cluster.sh (never stopped).
  2. Database '$BENCH_DB' with sysbench's tables (--tables x --table-size rows),
     made by sysbench oltp_common prepare straight to MariaDB; kept between
     runs when the row counts match.
  3. Starts HAProxy on 127.0.0.1:HAP_PORT (mode tcp, one server: MariaDB;
     config generated in a temp dir) and molt-lms on 127.0.0.1:LMS_PORT
     (--source-dialect mysql --shadow-mode none --coordination off, no TLS on
     either leg, as HAProxy).
  4. For each round and workload, runs sysbench against every target:
       sysbench WORKLOAD run --threads THREADS --time DURATION --percentile 95
     (server-side prepared statements, sysbench's default), and reads
     user+system CPU of the proxy process and of the database from
     /proc/PID/stat, sysbench's own from bash 'times', and the whole
     machine's busy and idle time from /proc/stat, before and after the run.
  5. Prints a table per workload (median over rounds): queries per second,
     p95 latency, the ratios against direct and against HAProxy, CPU per
     query of the proxy, the database, the client and the whole machine
     (microseconds), the machine's idle share, errors and reconnects; then
     the issue's targets (molt-lms >= 1.2 x HAProxy's qps; lms-pg >= 0.8 x
     pg-direct, with the most a proxy costing no CPU could reach in that run)
     as met/missed per workload, and the raw per-round rows.  Writes
     everything to bench/results/<timestamp>-mysql.json.

On a shared or small machine the clients, the proxy and MariaDB compete for
the same CPUs: qps then says little on its own; CPU per query is steadier.

Options:
  --rounds N           rounds (default $ROUNDS)
  --duration S         seconds per sysbench run (default $DURATION)
  --threads N          sysbench --threads (default $THREADS)
  --tables N           sysbench --tables (default $TABLES)
  --table-size N       sysbench --table-size (default $TABLE_SIZE)
  --workloads LIST     comma list of sysbench tests (default $WORKLOADS;
                       any read-only one works, e.g. oltp_read_write too)
  --targets LIST       comma list out of direct,haproxy,lms,pg-direct,lms-pg
                       (default $TARGETS).  pg-direct: sysbench's pgsql driver
                       straight to the PostgreSQL target cluster
                       (tests/pg-cluster.sh) with the same tables; lms-pg:
                       the MySQL client through a second molt-lms after a
                       cutover to that cluster (orchestrator initialize, begin,
                       commit --skip-replication-check): every request and
                       answer translated (issue 7 target: >= 0.8 x pg-direct)
  --orch-bin PATH      molt-lms-orchestrator (default \$ORCH_BIN or $REPO_DIR/...)
  --cli-bin PATH       molt-lms-cli (default \$CLI_BIN or $REPO_DIR/molt-lms-cli)
  --lms-bin PATH       molt-lms binary (default \$LMS_BIN or $REPO_DIR/molt-lms)
  --plugin-dir DIR     its plugins (default \$LMS_PLUGIN_DIR or $REPO_DIR/plugins/.libs)
  --workers N          molt-lms --workers (default: its own, one per CPU)
  --mysql-port PORT    use a MariaDB already running on 127.0.0.1:PORT
  --haproxy-port PORT  HAProxy's port (default $HAP_PORT)
  --lms-port PORT      molt-lms's SQL port (default $LMS_PORT)
  --metrics-port PORT  molt-lms's metrics port (default $LMS_METRICS_PORT)
  --lms-pg-port PORT   the lms-pg molt-lms's SQL port (default $LMS_PG_PORT;
                       its metrics port: --lms-pg-metrics-port, default
                       $LMS_PG_METRICS_PORT)
  --orch-port PORT     the orchestrator's port for lms-pg (default $ORCH_PORT;
                       its metrics port is the next one)
  --results-dir DIR    where to write the JSON (default bench/results)
  --keep-tmp           keep the temp dir (configs, logs, sysbench output)
  --huge-pages N|auto|off
                       reserve N 2 MiB pages (vm.nr_hugepages, root only, put back
                       at exit) before starting the PostgreSQL clusters, so that
                       new backends do not take a page fault for every 4 KiB of
                       shared buffers (bench/README.md); auto = 256 (default)
  -h, --help           this help

Example (a short check, not a measurement):
  bench/mysql.sh --rounds 1 --duration 5 --lms-bin build/molt-lms \\
      --plugin-dir build/plugins/.libs

Needs sysbench, haproxy, mariadb-client, mariadb-server (tests/setup-debian.sh
--bench).
EOF
}

PROG=mysql.sh
# die, log, need_arg, is_uint, stop_pid, tree_cpu_ticks, times_us, machine_ticks,
# write_haproxy_cfg
. "$SCRIPT_DIR/lib.sh"

while [[ $# -gt 0 ]]; do
    case $1 in
        --rounds) need_arg "$@"; ROUNDS=$2; shift 2 ;;
        --duration) need_arg "$@"; DURATION=$2; shift 2 ;;
        --threads) need_arg "$@"; THREADS=$2; shift 2 ;;
        --tables) need_arg "$@"; TABLES=$2; shift 2 ;;
        --table-size) need_arg "$@"; TABLE_SIZE=$2; shift 2 ;;
        --workloads) need_arg "$@"; WORKLOADS=$2; shift 2 ;;
        --targets) need_arg "$@"; TARGETS=$2; shift 2 ;;
        --lms-bin) need_arg "$@"; LMS_BIN=$2; shift 2 ;;
        --orch-bin) need_arg "$@"; ORCH_BIN=$2; shift 2 ;;
        --cli-bin) need_arg "$@"; CLI_BIN=$2; shift 2 ;;
        --plugin-dir) need_arg "$@"; LMS_PLUGIN_DIR=$2; shift 2 ;;
        --workers) need_arg "$@"; LMS_WORKERS=$2; shift 2 ;;
        --mysql-port) need_arg "$@"; EXTERNAL_MY_PORT=$2; shift 2 ;;
        --haproxy-port) need_arg "$@"; HAP_PORT=$2; shift 2 ;;
        --lms-port) need_arg "$@"; LMS_PORT=$2; shift 2 ;;
        --metrics-port) need_arg "$@"; LMS_METRICS_PORT=$2; shift 2 ;;
        --lms-pg-port) need_arg "$@"; LMS_PG_PORT=$2; shift 2 ;;
        --lms-pg-metrics-port) need_arg "$@"; LMS_PG_METRICS_PORT=$2; shift 2 ;;
        --orch-port) need_arg "$@"; ORCH_PORT=$2; shift 2 ;;
        --results-dir) need_arg "$@"; RESULTS_DIR=$2; shift 2 ;;
        --keep-tmp) KEEP_TMP=1; shift ;;
        --huge-pages) need_arg "$@"; HUGE_PAGES=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

for v in ROUNDS DURATION THREADS TABLES TABLE_SIZE HAP_PORT LMS_PORT LMS_METRICS_PORT LMS_PG_PORT LMS_PG_METRICS_PORT ORCH_PORT; do
    if ! is_uint "${!v}" || [[ ${!v} -eq 0 ]]; then
        die "$v must be a positive integer (got '${!v}')"
    fi
done
case $HUGE_PAGES in
    auto) HUGE_PAGES=256 ;;
    off) ;;
    *) is_uint "$HUGE_PAGES" && [[ $HUGE_PAGES -gt 0 ]] || die "--huge-pages takes a page count, auto or off (got '$HUGE_PAGES')" ;;
esac
[[ -z $LMS_WORKERS ]] || is_uint "$LMS_WORKERS" || die "--workers must be a number"
[[ -z $EXTERNAL_MY_PORT ]] || is_uint "$EXTERNAL_MY_PORT" || die "--mysql-port must be a port number"
# molt-lms starts in a directory of its own: make relative paths absolute
[[ $LMS_BIN == /* || ! -e $LMS_BIN ]] || LMS_BIN=$(realpath "$LMS_BIN")
[[ $LMS_PLUGIN_DIR == /* || ! -e $LMS_PLUGIN_DIR ]] || LMS_PLUGIN_DIR=$(realpath "$LMS_PLUGIN_DIR")
[[ $ORCH_BIN == /* || ! -e $ORCH_BIN ]] || ORCH_BIN=$(realpath "$ORCH_BIN")
[[ $CLI_BIN == /* || ! -e $CLI_BIN ]] || CLI_BIN=$(realpath "$CLI_BIN")

declare -a TARGET_LIST=() WORKLOAD_LIST=()
IFS=, read -r -a _t <<<"$TARGETS"
for t in "${_t[@]}"; do
    case $t in
        direct|haproxy|lms|pg-direct|lms-pg) TARGET_LIST+=("$t") ;;
        "") ;;
        *) die "unknown target '$t' (direct,haproxy,lms,pg-direct,lms-pg)" ;;
    esac
done
[[ ${#TARGET_LIST[@]} -gt 0 ]] || die "no targets selected"
IFS=, read -r -a _w <<<"$WORKLOADS"
for w in "${_w[@]}"; do
    [[ -z $w ]] && continue
    [[ $w =~ ^[a-z_]+$ && -f /usr/share/sysbench/$w.lua ]] || die "unknown sysbench workload '$w' (see /usr/share/sysbench)"
    WORKLOAD_LIST+=("$w")
done
[[ ${#WORKLOAD_LIST[@]} -gt 0 ]] || die "no workloads selected"

has_target() {
    local t
    for t in "${TARGET_LIST[@]}"; do [[ $t == "$1" ]] && return 0; done
    return 1
}

for tool in sysbench mariadb curl; do
    command -v "$tool" >/dev/null || die "$tool not found (tests/setup-debian.sh --bench)"
done
has_target haproxy && { command -v haproxy >/dev/null || die "haproxy not found (apt-get install haproxy)"; }
has_target lms || has_target lms-pg && { [[ -x $LMS_BIN ]] || die "molt-lms not found at $LMS_BIN (build it, or --lms-bin)"; }
has_target lms-pg && { [[ -x $ORCH_BIN && -x $CLI_BIN ]] ||
    die "molt-lms-orchestrator or molt-lms-cli not found ($ORCH_BIN, $CLI_BIN: --orch-bin, --cli-bin)"; }
[[ -x $PY ]] || die "$PY not found"
CLK_TCK=$(getconf CLK_TCK)

# ---- state and cleanup ------------------------------------------------------
TMP=$(mktemp -d /tmp/lms-bench-mysql.XXXXXX)
chmod 0711 "$TMP"
MY_STARTED=0 PG_STARTED=0
HAP_PID="" LMS_PID="" SB_PID="" LMS_PG_PID="" ORCH_PID=""

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    trap '' PIPE
    set +e
    stop_pid "$SB_PID"
    stop_pid "$LMS_PID"
    stop_pid "$LMS_PG_PID"
    stop_pid "$ORCH_PID"
    stop_pid "$HAP_PID"
    if [[ $PG_STARTED -eq 1 ]]; then
        log "stopping the PostgreSQL clusters (they were not running before)"
        "$REPO_DIR/tests/pg-cluster.sh" stop >/dev/null 2>&1 || log "warning: pg-cluster.sh stop failed"
    fi
    hugepages_restore
    if [[ $MY_STARTED -eq 1 ]]; then
        log "stopping MariaDB (it was not running before)"
        "$REPO_DIR/tests/mysql-cluster.sh" stop >/dev/null 2>&1 || log "warning: mysql-cluster.sh stop failed"
    fi
    if [[ $KEEP_TMP -eq 1 ]]; then
        log "temp dir kept: $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- MariaDB ----------------------------------------------------------------
if [[ -n $EXTERNAL_MY_PORT ]]; then
    MY_PORT=$EXTERNAL_MY_PORT
else
    MY_PORT=${LMS_TEST_MYSQL_PORT:-13306}
    if ! "$REPO_DIR/tests/mysql-cluster.sh" status >/dev/null 2>&1; then
        MY_STARTED=1
    fi
    "$REPO_DIR/tests/mysql-cluster.sh" start >&2 || die "tests/mysql-cluster.sh start failed"
    eval "$("$REPO_DIR/tests/mysql-cluster.sh" env)"
    MY_PORT=$LMS_TEST_MYSQL_PORT
fi

my_sql() {  # my_sql SQL: one value per line, no headers
    mariadb --no-defaults -h "$HOST" -P "$MY_PORT" -u "$MY_USER" -p"$MY_PW" --skip-ssl -N -B -e "$1"
}
my_sql "select 1" >/dev/null || die "cannot log in to MariaDB on $HOST:$MY_PORT as $MY_USER"
MY_PID=$(cat "$(my_sql "select @@pid_file")" 2>/dev/null) || MY_PID=""
[[ -n $MY_PID && -r /proc/$MY_PID/stat ]] || { log "NOTE: mariadbd's pid not found: no server CPU figures"; MY_PID=""; }
MY_VERSION=$(my_sql "select version()")

SB_COMMON=(--db-driver=mysql --mysql-host="$HOST" --mysql-user="$MY_USER" --mysql-password="$MY_PW"
           --mysql-db="$BENCH_DB" --tables="$TABLES" --table-size="$TABLE_SIZE")

tables_ready() {
    local i n
    for ((i = 1; i <= TABLES; i++)); do
        n=$(my_sql "select count(*) from $BENCH_DB.sbtest$i" 2>/dev/null) || return 1
        [[ $n -eq $TABLE_SIZE ]] || return 1
    done
}

my_sql "create database if not exists $BENCH_DB"
if tables_ready; then
    log "$BENCH_DB: $TABLES tables of $TABLE_SIZE rows already there"
else
    log "$BENCH_DB: sysbench prepare ($TABLES tables of $TABLE_SIZE rows)"
    my_sql "drop database $BENCH_DB; create database $BENCH_DB"
    sysbench "${SB_COMMON[@]}" --mysql-port="$MY_PORT" --threads="$TABLES" oltp_common prepare \
        >"$TMP/prepare.log" 2>&1 || { tail -n 20 "$TMP/prepare.log" >&2; die "sysbench prepare failed"; }
fi

# ---- the proxies -------------------------------------------------------------
wait_port() {  # wait_port PORT: until something accepts on it (10 s)
    local i
    for ((i = 0; i < 100; i++)); do
        (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

port_free() {
    ! (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

if has_target haproxy; then
    port_free "$HAP_PORT" || die "port $HAP_PORT is in use (--haproxy-port)"
    write_haproxy_cfg "$TMP/haproxy.cfg" 4096 mysql "$HAP_PORT" "$MY_PORT"
    haproxy -db -f "$TMP/haproxy.cfg" >"$TMP/haproxy.log" 2>&1 &
    HAP_PID=$!
    wait_port "$HAP_PORT" || { cat "$TMP/haproxy.log" >&2; die "HAProxy did not start"; }
fi

if has_target lms; then
    port_free "$LMS_PORT" || die "port $LMS_PORT is in use (--lms-port)"
    port_free "$LMS_METRICS_PORT" || die "port $LMS_METRICS_PORT is in use (--metrics-port)"
    lms_args=(--listen "$HOST:$LMS_PORT" --metrics-listen "$HOST:$LMS_METRICS_PORT"
              --plugin-dir "$LMS_PLUGIN_DIR" --source-dialect mysql --shadow-mode none
              --coordination off --allow-tls-mode-disable --log-level warn
              --init-source "mysql://$MY_USER:$MY_PW@$HOST:$MY_PORT/$BENCH_DB?ssl-mode=DISABLED"
              --init-target "postgresql://unused@$HOST:1/unused?sslmode=disable")
    [[ -z $LMS_WORKERS ]] || lms_args+=(--workers "$LMS_WORKERS")
    (cd "$TMP" && exec "$LMS_BIN" "${lms_args[@]}") >"$TMP/molt-lms.log" 2>&1 &
    LMS_PID=$!
    for ((i = 0; i < 100; i++)); do
        curl -sf "http://$HOST:$LMS_METRICS_PORT/readyz" >/dev/null 2>&1 && break
        kill -0 "$LMS_PID" 2>/dev/null || break
        sleep 0.1
    done
    curl -sf "http://$HOST:$LMS_METRICS_PORT/readyz" >/dev/null 2>&1 ||
        { tail -n 20 "$TMP/molt-lms.log" >&2; die "molt-lms did not become ready"; }
fi

# ---- the PostgreSQL target (pg-direct, lms-pg) --------------------------------
PG_PORT="" PG_PID="" HUGE_CLUSTERS=""
if has_target pg-direct || has_target lms-pg; then
    "$REPO_DIR/tests/pg-cluster.sh" status >/dev/null 2>&1 || PG_STARTED=1
    if [[ $HUGE_PAGES != off ]]; then
        hugepages_reserve "$HUGE_PAGES" || true
        [[ $PG_STARTED -eq 1 ]] || log "NOTE: the clusters were already running; they use huge pages only if they were started after vm.nr_hugepages was raised"
    fi
    "$REPO_DIR/tests/pg-cluster.sh" start >&2 || die "tests/pg-cluster.sh start failed"
    eval "$("$REPO_DIR/tests/pg-cluster.sh" env)"
    PG_PORT=$LMS_TEST_TARGET_PORT
    TGT_PM=$(head -n 1 "$LMS_TEST_DIR/target/data/postmaster.pid" 2>/dev/null || true)
    [[ -n $TGT_PM ]] && pm_on_hugepages "$TGT_PM" && HUGE_CLUSTERS=target
    log "PostgreSQL target's shared memory on 2 MiB pages: ${HUGE_CLUSTERS:-no}"
    export PGPASSWORD=$MY_PW
    pg_sql() {  # pg_sql DB SQL
        "$PGBIN/psql" -X -q -At -h "$HOST" -p "$PG_PORT" -U "$MY_USER" -d "$1" -c "$2"
    }
    PG_PID=$(head -n 1 "$LMS_TEST_DIR/target/data/postmaster.pid" 2>/dev/null) || PG_PID=""
    [[ -n $(pg_sql postgres "select 1 from pg_database where datname = '$BENCH_DB'") ]] ||
        pg_sql postgres "create database $BENCH_DB" >/dev/null
    SB_PG=(--db-driver=pgsql --pgsql-host="$HOST" --pgsql-port="$PG_PORT" --pgsql-user="$MY_USER"
           --pgsql-password="$MY_PW" --pgsql-db="$BENCH_DB" --tables="$TABLES" --table-size="$TABLE_SIZE")
    pg_ready=1
    for ((i = 1; i <= TABLES; i++)); do
        n=$(pg_sql "$BENCH_DB" "select count(*) from sbtest$i" 2>/dev/null) || n=0
        [[ $n -eq $TABLE_SIZE ]] || pg_ready=0
    done
    if [[ $pg_ready -eq 0 ]]; then
        log "PostgreSQL $BENCH_DB: sysbench prepare ($TABLES tables of $TABLE_SIZE rows)"
        sysbench "${SB_PG[@]}" --threads=1 oltp_common cleanup >/dev/null 2>&1 || true
        sysbench "${SB_PG[@]}" --threads="$TABLES" oltp_common prepare >"$TMP/pg-prepare.log" 2>&1 ||
            { tail -n 20 "$TMP/pg-prepare.log" >&2; die "sysbench prepare on PostgreSQL failed"; }
    fi
fi

# lms-pg: a second molt-lms, cut over to the PostgreSQL target by the
# orchestrator, so that the MySQL client is served by PostgreSQL
if has_target lms-pg; then
    for port in "$LMS_PG_PORT" "$LMS_PG_METRICS_PORT" "$ORCH_PORT" "$((ORCH_PORT + 1))"; do
        port_free "$port" || die "port $port is in use"
    done
    PG_URL="postgresql://$MY_USER:$MY_PW@$HOST:$PG_PORT/$BENCH_DB?sslmode=disable"
    MY_URL="mysql://$MY_USER:$MY_PW@$HOST:$MY_PORT/$BENCH_DB?ssl-mode=DISABLED"
    lms_pg_args=(--listen "$HOST:$LMS_PG_PORT" --metrics-listen "$HOST:$LMS_PG_METRICS_PORT"
                 --plugin-dir "$LMS_PLUGIN_DIR" --source-dialect mysql --shadow-mode none
                 --allow-tls-mode-disable --log-level warn --init-source "$MY_URL" --init-target "$PG_URL")
    [[ -z $LMS_WORKERS ]] || lms_pg_args+=(--workers "$LMS_WORKERS")
    (cd "$TMP" && exec "$ORCH_BIN" --listen "$HOST:$ORCH_PORT" --metrics-listen "$HOST:$((ORCH_PORT + 1))" \
        --crdb-url "$PG_URL" --source-dialect mysql --source-url "$MY_URL" --allow-tls-mode-disable \
        --lms-addresses "http://$HOST:$LMS_PG_METRICS_PORT" --log-level warn) >"$TMP/orchestrator.log" 2>&1 &
    ORCH_PID=$!
    wait_port "$ORCH_PORT" || { cat "$TMP/orchestrator.log" >&2; die "the orchestrator did not start"; }
    cli() { "$CLI_BIN" --orchestrator-url "http://$HOST:$ORCH_PORT" -o json "$@" >>"$TMP/cli.log" 2>&1; }
    cli initialize || { cat "$TMP/cli.log" >&2; die "molt-lms-cli initialize failed"; }
    (cd "$TMP" && exec "$LMS_BIN" "${lms_pg_args[@]}") >"$TMP/molt-lms-pg.log" 2>&1 &
    LMS_PG_PID=$!
    wait_port "$LMS_PG_PORT" || { tail -n 20 "$TMP/molt-lms-pg.log" >&2; die "molt-lms (lms-pg) did not start"; }
    # this MariaDB and that cluster hold different rows: there is no
    # replication to check, only the serving path to measure.  (A store
    # left by an earlier run may say the target serves already.)
    for ((i = 0; i < 100; i++)); do
        st=$(curl -sf "http://$HOST:$LMS_PG_METRICS_PORT/api/v1/state" || true)
        [[ $st == *'"store": "ok"'* || $st == *'"store":"ok"'* ]] && break
        sleep 0.1
    done
    if [[ $st != *'"source_of_truth": "target"'* && $st != *'"source_of_truth":"target"'* ]]; then
        cli cutover consistent begin && cli cutover consistent commit --skip-replication-check ||
            { cat "$TMP/cli.log" >&2; die "the cutover of the lms-pg instance failed"; }
    fi
    curl -sf "http://$HOST:$LMS_PG_METRICS_PORT/api/v1/state" | grep -q '"source_of_truth": *"target"' ||
        die "the lms-pg instance is not serving from the target after the cutover"
    log "lms-pg: molt-lms on $HOST:$LMS_PG_PORT serves MySQL clients from PostgreSQL $HOST:$PG_PORT"
    stop_pid "$ORCH_PID"  # the instance keeps its state; the store keeps the cutover
    ORCH_PID=""
fi

port_of() {
    case $1 in
        direct) echo "$MY_PORT" ;;
        haproxy) echo "$HAP_PORT" ;;
        lms) echo "$LMS_PORT" ;;
        lms-pg) echo "$LMS_PG_PORT" ;;
        pg-direct) echo "$PG_PORT" ;;
    esac
}

pid_of() {
    case $1 in
        haproxy) echo "$HAP_PID" ;;
        lms) echo "$LMS_PID" ;;
        lms-pg) echo "$LMS_PG_PID" ;;
        *) echo "" ;;
    esac
}

server_pid_of() {  # whose CPU is the database's for target $1
    case $1 in
        pg-direct|lms-pg) echo "$PG_PID" ;;
        *) echo "$MY_PID" ;;
    esac
}

# ---- the runs ----------------------------------------------------------------
ROWS=$TMP/rows.jsonl
: >"$ROWS"
n_targets=${#TARGET_LIST[@]}
log "$ROUNDS round(s) x ${#WORKLOAD_LIST[@]} workload(s) x $n_targets target(s), ${DURATION} s each, $THREADS threads"

for ((r = 1; r <= ROUNDS; r++)); do
    for w in "${WORKLOAD_LIST[@]}"; do
        for ((k = 0; k < n_targets; k++)); do
            t=${TARGET_LIST[$(((k + r - 1) % n_targets))]}
            out=$TMP/r$r-$w-$t.txt
            ppid=$(pid_of "$t")
            spid=$(server_pid_of "$t")
            p0=$(tree_cpu_ticks "$ppid") m0=$(tree_cpu_ticks "$spid")
            if [[ $t == pg-direct ]]; then
                sb=("${SB_PG[@]}")
            else
                sb=("${SB_COMMON[@]}" --mysql-port="$(port_of "$t")")
            fi
            rm -f "$out.times"
            read -r busy0 idle0 < <(machine_ticks)
            # 'times' in the subshell gives sysbench's own CPU (the client's)
            ( c=0; sysbench "${sb[@]}" --threads="$THREADS" --time="$DURATION" --percentile=95 \
                --report-interval=0 "$w" run >"$out" 2>&1 || c=$?; times >"$out.times"; exit $c ) &
            SB_PID=$!
            rc=0
            wait "$SB_PID" || rc=$?
            SB_PID=""
            p1=$(tree_cpu_ticks "$ppid") m1=$(tree_cpu_ticks "$spid")
            read -r busy1 idle1 < <(machine_ticks)
            $PY - "$out" "$r" "$w" "$t" "$rc" "$CLK_TCK" "${p0:-}" "${p1:-}" "${m0:-}" "${m1:-}" \
                "$(times_us "$out.times")" "$((busy1 - busy0))" "$((idle1 - idle0))" >>"$ROWS" <<'EOF'
import json, re, sys
out, r, w, t, rc, tck, p0, p1, m0, m1, client_us, busy, idle = sys.argv[1:]
text = open(out, errors="replace").read()
def num(pat):
    m = re.search(pat, text, re.M)
    return float(m.group(1)) if m else None
row = {"round": int(r), "workload": w, "target": t, "exit": int(rc),
       "queries": num(r"^\s+queries:\s+(\d+)"), "qps": num(r"^\s+queries:\s+\d+\s+\(([\d.]+) per sec"),
       "tps": num(r"^\s+transactions:\s+\d+\s+\(([\d.]+) per sec"),
       "p95_ms": num(r"^\s+95th percentile:\s+([\d.]+)"), "avg_ms": num(r"^\s+avg:\s+([\d.]+)"),
       "errors": num(r"^\s+ignored errors:\s+(\d+)"), "reconnects": num(r"^\s+reconnects:\s+(\d+)"),
       "time_s": num(r"^\s+total time:\s+([\d.]+)s")}
us = 1e6 / float(tck)
def per_query(a, b):
    if not a or not b or not row["queries"]:
        return None
    return (int(b) - int(a)) * us / row["queries"]
row["proxy_cpu_us_per_q"] = per_query(p0, p1)
row["server_cpu_us_per_q"] = per_query(m0, m1)
row["client_cpu_us_per_q"] = int(client_us) / row["queries"] if client_us and row["queries"] else None
# the share of the machine's CPU time that nobody used during the run
row["machine_idle_pct"] = 100.0 * int(idle) / (int(busy) + int(idle)) if int(busy) + int(idle) > 0 else None
# all CPU the machine spent per query: client, proxy, server, kernel, and anything else running
row["machine_cpu_us_per_q"] = int(busy) * us / row["queries"] if row["queries"] else None
if rc != "0" or row["qps"] is None:
    row["failure"] = text[-800:]
print(json.dumps(row))
EOF
            log "round $r $w $t: $(tail -n 1 "$ROWS" | $PY -c 'import json,sys; d=json.load(sys.stdin); print("exit %d, %s qps, p95 %s ms" % (d["exit"], d["qps"], d["p95_ms"]))')"
        done
    done
done

# ---- report ------------------------------------------------------------------
mkdir -p "$RESULTS_DIR"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
JSON=$RESULTS_DIR/$STAMP-mysql.json
$PY - "$ROWS" "$JSON" <<EOF
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
conf = {"rounds": $ROUNDS, "duration_s": $DURATION, "threads": $THREADS, "tables": $TABLES,
        "table_size": $TABLE_SIZE, "workloads": "$WORKLOADS".split(","), "targets": "$TARGETS".split(","),
        "mariadb": "$MY_VERSION", "lms_bin": "$LMS_BIN", "lms_workers": "${LMS_WORKERS:-default}",
        "cpus": $(nproc), "sysbench_ps_mode": "auto (server-side prepared statements)",
        "huge_pages": "$HUGE_PAGES", "huge_pages_clusters": "$HUGE_CLUSTERS"}

def med(w, t, key):
    v = [r[key] for r in rows if r["workload"] == w and r["target"] == t and r.get(key) is not None
         and r["exit"] == 0]
    return statistics.median(v) if v else None

def fmt(v, spec):
    return format(v, spec) if v is not None else "-"

summary = {}
verdicts = []
for w in conf["workloads"]:
    print("\n%s: %d threads, %d s per run, median of %d round(s)" % (w, $THREADS, $DURATION, $ROUNDS))
    print("%-9s %10s %8s %10s %11s %12s %13s %13s %14s %7s %7s %6s" % (
        "target", "qps", "p95 ms", "vs direct", "vs haproxy", "proxy us/q", "server us/q", "client us/q",
        "machine us/q", "idle %", "errors", "recon"))
    s = {}
    for t in conf["targets"]:
        qps = med(w, t, "qps")
        d = {k: med(w, t, k) for k in ("qps", "p95_ms", "proxy_cpu_us_per_q", "server_cpu_us_per_q",
                                       "client_cpu_us_per_q", "machine_cpu_us_per_q", "machine_idle_pct")}
        d["errors"] = sum(r["errors"] or 0 for r in rows if r["workload"] == w and r["target"] == t)
        d["reconnects"] = sum(r["reconnects"] or 0 for r in rows if r["workload"] == w and r["target"] == t)
        d["failed_runs"] = sum(1 for r in rows if r["workload"] == w and r["target"] == t and r["exit"] != 0)
        s[t] = d
    for t in conf["targets"]:
        d = s[t]
        for base in ("direct", "haproxy", "pg-direct"):
            b = s.get(base, {}).get("qps")
            d["vs_" + base] = d["qps"] / b if d["qps"] and b else None
        print("%-9s %10s %8s %10s %11s %12s %13s %13s %14s %7s %7d %6d%s" % (
            t, fmt(d["qps"], ".0f"), fmt(d["p95_ms"], ".2f"), fmt(d["vs_direct"], ".2f"),
            fmt(d["vs_haproxy"], ".2f"), fmt(d["proxy_cpu_us_per_q"], ".1f"),
            fmt(d["server_cpu_us_per_q"], ".1f"), fmt(d["client_cpu_us_per_q"], ".1f"),
            fmt(d["machine_cpu_us_per_q"], ".1f"), fmt(d["machine_idle_pct"], ".1f"), d["errors"], d["reconnects"],
            "  (%d failed run(s))" % d["failed_runs"] if d["failed_runs"] else ""))
    tr, pgd = s.get("lms-pg", {}).get("qps"), s.get("pg-direct", {}).get("qps")
    if tr and pgd:
        print("translated (lms-pg) / pg-direct: %.2fx (issue target >= 0.8: %s)" % (tr / pgd,
              "met" if tr >= 0.8 * pgd else "missed"))
        s["target_translated_ge_0.8x_pg_direct"] = tr >= 0.8 * pgd
        # What the same run would reach if molt-lms cost no CPU at all: every CPU
        # busy, spending per query what the machine spent less the proxy's share
        # (the client, the server and the kernel work of the extra hop stay).
        lp = s["lms-pg"]
        if lp.get("machine_cpu_us_per_q") and lp.get("proxy_cpu_us_per_q") is not None:
            rest = lp["machine_cpu_us_per_q"] - lp["proxy_cpu_us_per_q"]
            if rest > 0:
                free = conf["cpus"] * 1e6 / rest
                s["lms_pg_free_proxy_ceiling_qps"] = free
                print("  a proxy that cost no CPU, same client and server costs: at most %.0f qps, %.2fx pg-direct"
                      % (free, free / pgd))
    lms, hap = s.get("lms", {}).get("qps"), s.get("haproxy", {}).get("qps")
    if lms and hap:
        ok = lms >= 1.2 * hap
        verdicts.append((w, ok, lms / hap))
        s["target_lms_ge_1.2x_haproxy"] = ok
    summary[w] = s

if verdicts:
    print("\nissue target: molt-lms none >= 1.2 x HAProxy's qps")
    for w, ok, ratio in verdicts:
        print("  %-20s %s (%.2fx)" % (w, "met" if ok else "missed", ratio))
print("\nraw rows:")
print("%5s %-20s %-8s %5s %10s %8s %11s %13s %7s" % ("round", "workload", "target", "exit", "qps", "p95 ms",
                                                     "proxy us/q", "server us/q", "errors"))
for r in rows:
    print("%5d %-20s %-8s %5d %10s %8s %11s %13s %7s" % (
        r["round"], r["workload"], r["target"], r["exit"], fmt(r["qps"], ".0f"), fmt(r["p95_ms"], ".2f"),
        fmt(r["proxy_cpu_us_per_q"], ".1f"), fmt(r["server_cpu_us_per_q"], ".1f"), fmt(r["errors"], ".0f")))
    if r.get("failure"):
        print("      " + r["failure"].strip().replace("\n", "\n      "))
json.dump({"config": conf, "summary": summary, "rows": rows}, open(sys.argv[2], "w"), indent=1)
print("\nwrote " + sys.argv[2])
EOF
