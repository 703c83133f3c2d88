#!/usr/bin/env bash
# bench/cutover.sh - the pause applications see during a consistent cutover.
#
# Own source and target clusters with logical replication source -> target,
# the orchestrator, 3 molt-lms instances and a pgbench write workload spread
# over them; after a warm-up, `molt-lms-cli cutover consistent begin` and
# `commit`. The per-transaction pgbench logs then give the added latency of
# the requests that were queued, with and without the replication catch-up
# wait that commit reports. See --help.
set -euo pipefail

BENCH_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd -- "$BENCH_DIR/.." && pwd)
PY=${PYTHON:-/usr/bin/python3}

# ---- settings -------------------------------------------------------------
CLIENTS=64
INSTANCES=3
SCALE=10
WARMUP=10          # seconds of load before begin
TAIL=5             # seconds of load after commit returned (at least)
BUDGET=30          # seconds the load keeps going for begin + commit
ROUNDS=1
SCRIPT=update      # update | tpcb
PROTOCOL=simple
RATE=""
TARGET_MS=100
KEEP=0
RESULTS_DIR=$BENCH_DIR/results
BUILDDIR=${LMS_BUILDDIR:-$REPO_DIR}

CLUSTER_DIR=${LMS_CBENCH_DIR:-/tmp/lms-cbench}
SRC_PORT=${LMS_CBENCH_SOURCE_PORT:-17532}
TGT_PORT=${LMS_CBENCH_TARGET_PORT:-17533}
ORCH_PORT=${LMS_CBENCH_ORCH_PORT:-17540}   # API; metrics on +1
LMS_PORT0=${LMS_CBENCH_LMS_PORT:-17550}    # instance i: SQL on LMS_PORT0+i, admin/metrics on LMS_PORT0+10+i
LOG_LEVEL=info

HOST=127.0.0.1
DB=bench
ADMIN_USER=lms_admin
ADMIN_PW=lms-admin-pw

usage() {
    cat <<EOF
Usage: bench/cutover.sh [options]

Measures the pause that applications see during a consistent cutover with
$INSTANCES molt-lms instances and --clients clients (issue 4's benchmark:
p99 added latency of queued requests, beyond the replication catch-up wait,
target <= $TARGET_MS ms).

Steps:
  1. tests/pg-cluster.sh start with its own --dir $CLUSTER_DIR and ports
     $SRC_PORT (source) / $TGT_PORT (target) (a leftover of an earlier run there is
     removed first; the shared test clusters on 15432/15433 are never touched).
  2. Database '$DB' on both: pgbench tables at --scale on the source, the same
     schema (no rows) on the target.
  3. molt-lms-orchestrator --allow-tls-mode-disable on $HOST:$ORCH_PORT (store on
     the target, --source-url the source), molt-lms-cli initialize, then
     logical replication source -> target: a publication of the pgbench tables
     and _molt_lms.watermark, a subscription on the target; waits for the
     initial copy.
  4. $INSTANCES molt-lms instances ($HOST:$LMS_PORT0.., admin API on $HOST:$((LMS_PORT0 + 10)).., INIT_SOURCE /
     INIT_TARGET = '$DB' on the clusters); waits until molt-lms-cli status
     shows them all healthy.
  5. $INSTANCES pgbench processes (one per instance, the clients split as evenly as
     possible, -j 1, per-transaction log -l) for WARMUP + $BUDGET + TAIL seconds.
     After --warmup seconds: molt-lms-cli cutover consistent begin, then commit
     (each call timed), then the load runs on for at least TAIL seconds.
     With --rounds N > 1 the cutover goes back and forth: before each
     later round's commit (while paused) replication is reversed, as an
     operator must for a reverse cutover: wait until the old source of truth is
     fully on the other side, drop the subscription, subscribe the other way
     (copy_data = false), and commit --skip-replication-check. That wait and
     the swap are then the round's catch-up wait.
  6. Checks: pgbench exit status, aborted clients and 'number of failed
     transactions' (must be 0); every committed write is on the new source of
     truth; the old one got no write after the commit.
  7. bench/cutover_report.py: table and bench/results/<timestamp>-cutover.json.

What is measured (times from the pgbench logs, wall clock, and the CLI calls):
  pause window   begin issued -> commit returned
  baseline       transactions that ended in the seconds before begin was
                 issued (from WARMUP/2 on): their median is the normal latency
  overlapping    transactions running at any time inside the pause window
  queued         transactions outstanding at the moment their instance applied
                 the commit (coord_applied in its log): it was paused and
                 drained until then, so they were waiting in its queue (with
                 --rate, pgbench counts from the scheduled start)
  added          latency of a queued transaction - baseline median
  catch-up wait  commit's replication_lag_ms (write the watermark on the
                 source, wait until the target has it), or the script's own
                 wait (and replication reversal) before a commit that skips
                 the check
  added - catch-up  added minus the part of the transaction's lifetime that
                 overlaps the catch-up wait: the figure the target applies to
                 (p99 <= $TARGET_MS ms)
  release        when queued transactions completed after their instance
                 applied the commit (re-login of each session on the new
                 source of truth, replay, the request itself)

Options:
  --clients N       clients in total, spread over the instances (default $CLIENTS)
  --scale N         pgbench scale (default $SCALE)
  --warmup S        seconds of load before begin (default $WARMUP)
  --tail S          seconds of load after commit (default $TAIL)
  --budget S        seconds allowed for begin + commit (default $BUDGET); the load
                    lasts WARMUP + BUDGET + TAIL seconds; a cutover longer than
                    BUDGET is reported but its tail is shorter
  --rounds N        cutovers, alternating forward and back (default $ROUNDS)
  --script NAME     update: one UPDATE of a random pgbench_accounts row, abalance
                    + 1, autocommit (default); tpcb: pgbench's TPC-B-like
                    transaction (BEGIN ... END, hot rows in pgbench_branches)
  --protocol P      pgbench -M: simple, extended or prepared (default $PROTOCOL)
  --rate TPS        pgbench --rate in total (split over the instances); default
                    none (closed loop: each client sends its next transaction
                    when the last one ended)
  --target-ms MS    the p99 target (default $TARGET_MS)
  --results-dir D   where the JSON goes (default bench/results)
  --log-level L     molt-lms and orchestrator log level (default info; debug
                    adds the cutover timeline: see bench/README.md)
  --keep            leave the clusters running and keep the temp dir (logs)
  -h, --help        this help

Environment:
  LMS_BUILDDIR      build directory with molt-lms, molt-lms-orchestrator,
                    molt-lms-cli and plugins/.libs (default the repository root);
                    LMS_BIN, LMS_PLUGIN_DIR override the proxy and its plugins
  LMS_CBENCH_DIR, LMS_CBENCH_SOURCE_PORT, LMS_CBENCH_TARGET_PORT
                    the clusters' directory and ports (defaults above)
  LMS_CBENCH_ORCH_PORT, LMS_CBENCH_LMS_PORT
                    the orchestrator's API port (metrics on +1) and the first
                    instance's SQL port (admin on +10) (defaults above)
Nothing is built here.
EOF
}

die() { echo "cutover.sh: error: $*" >&2; exit 1; }
say() { echo "cutover.sh: $*" >&2; }
posint() { [[ $1 =~ ^[0-9]+$ && $1 -gt 0 ]]; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --clients|--scale|--warmup|--tail|--budget|--rounds|--script|--protocol|--rate|--target-ms|--results-dir|--log-level)
            [[ $# -ge 2 && -n $2 ]] || die "$1 needs a value"
            case $1 in
                --clients) CLIENTS=$2 ;;
                --scale) SCALE=$2 ;;
                --warmup) WARMUP=$2 ;;
                --tail) TAIL=$2 ;;
                --budget) BUDGET=$2 ;;
                --rounds) ROUNDS=$2 ;;
                --script) SCRIPT=$2 ;;
                --protocol) PROTOCOL=$2 ;;
                --rate) RATE=$2 ;;
                --target-ms) TARGET_MS=$2 ;;
                --results-dir) RESULTS_DIR=$2 ;;
                --log-level) LOG_LEVEL=$2 ;;
            esac
            shift 2 ;;
        --keep) KEEP=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done
for v in CLIENTS SCALE WARMUP TAIL BUDGET ROUNDS TARGET_MS; do
    posint "${!v}" || die "${v,,} must be a positive integer (got '${!v}')"
done
[[ -z $RATE ]] || posint "$RATE" || die "--rate must be a positive integer"
[[ $LOG_LEVEL =~ ^(debug|info|warn|error)$ ]] || die "--log-level must be debug, info, warn or error"
[[ $SCRIPT == update || $SCRIPT == tpcb ]] || die "--script must be update or tpcb"
[[ $PROTOCOL =~ ^(simple|extended|prepared)$ ]] || die "--protocol must be simple, extended or prepared"
((CLIENTS >= INSTANCES)) || die "--clients must be at least $INSTANCES"
[[ $SRC_PORT != 15432 && $SRC_PORT != 15433 && $TGT_PORT != 15432 && $TGT_PORT != 15433 ]] ||
    die "15432/15433 belong to the shared test clusters; choose other ports"

BUILDDIR=$(cd -- "$BUILDDIR" 2>/dev/null && pwd) || die "LMS_BUILDDIR: no such directory"
LMS_BIN=${LMS_BIN:-$BUILDDIR/molt-lms}
LMS_PLUGIN_DIR=${LMS_PLUGIN_DIR:-$BUILDDIR/plugins/.libs}
ORCH_BIN=$BUILDDIR/molt-lms-orchestrator
CLI_BIN=$BUILDDIR/molt-lms-cli
for b in "$LMS_BIN" "$ORCH_BIN" "$CLI_BIN"; do
    [[ -x $b ]] || die "$b not found: build first and set LMS_BUILDDIR (e.g. LMS_BUILDDIR=build)"
done
[[ -d $LMS_PLUGIN_DIR ]] || die "plugin dir $LMS_PLUGIN_DIR not found"
LMS_BIN=$(realpath "$LMS_BIN") LMS_PLUGIN_DIR=$(realpath "$LMS_PLUGIN_DIR")
for tool in pgbench psql pg_isready curl; do
    command -v "$tool" >/dev/null || die "$tool not found"
done
[[ -x $PY ]] || die "$PY not found"
((${BASH_VERSINFO[0]} >= 5)) || die "bash 5 needed (EPOCHREALTIME)"

ORCH_URL=http://$HOST:$ORCH_PORT
CLUSTER_SH=$REPO_DIR/tests/pg-cluster.sh
export PGSSLMODE=disable PGCONNECT_TIMEOUT=10

# ---- cleanup --------------------------------------------------------------
WORK=$(mktemp -d /tmp/lms-cbench-run.XXXXXX)
declare -a PIDS=()          # every long-running process we started
declare -a PGBENCH_PIDS=()
CLUSTERS_UP=0

# end PID: SIGTERM, up to 10 s, then SIGKILL
end_proc() {
    local pid=$1 n
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for ((n = 0; n < 100; n++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
}

on_exit() {
    local rc=$? p
    trap - EXIT INT TERM
    set +e
    for p in "${PGBENCH_PIDS[@]}" "${PIDS[@]}"; do end_proc "$p"; done
    if [[ $CLUSTERS_UP -eq 1 ]]; then
        if [[ $KEEP -eq 1 ]]; then
            say "--keep: clusters left running in $CLUSTER_DIR (ports $SRC_PORT/$TGT_PORT); stop them with"
            say "  LMS_TEST_SOURCE_PORT=$SRC_PORT LMS_TEST_TARGET_PORT=$TGT_PORT $CLUSTER_SH clean --dir $CLUSTER_DIR"
        else
            cluster clean >/dev/null 2>&1 || say "warning: could not remove the clusters in $CLUSTER_DIR"
        fi
    fi
    if [[ $KEEP -eq 1 ]]; then say "logs kept in $WORK"; else rm -rf "$WORK"; fi
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cluster() {
    LMS_TEST_SOURCE_PORT=$SRC_PORT LMS_TEST_TARGET_PORT=$TGT_PORT "$CLUSTER_SH" "$1" --dir "$CLUSTER_DIR"
}

sql() {  # sql PORT DB STATEMENT: one value per line, unaligned
    PGPASSWORD=$ADMIN_PW psql -X -q -At -v ON_ERROR_STOP=1 -h "$HOST" -p "$1" -U "$ADMIN_USER" -d "$2" -c "$3"
}

db_url() { echo "postgresql://$ADMIN_USER:$ADMIN_PW@$HOST:$1/$DB?sslmode=disable"; }

cli() { "$CLI_BIN" --orchestrator-url "$ORCH_URL" -o json "$@"; }

# until_true SECONDS WHAT CMD...: run CMD every 0.2 s until it succeeds
until_true() {
    local secs=$1 what=$2 end
    shift 2
    end=$((SECONDS + secs))
    until "$@" >/dev/null; do
        ((SECONDS < end)) || die "timed out after ${secs}s waiting for $what"
        sleep 0.2
    done
}

port_free() { ! (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

for p in $ORCH_PORT $((ORCH_PORT + 1)); do port_free "$p" || die "port $p is in use"; done
for ((i = 0; i < INSTANCES; i++)); do
    for p in $((LMS_PORT0 + i)) $((LMS_PORT0 + 10 + i)); do port_free "$p" || die "port $p is in use"; done
done

# ---- 1. clusters ------------------------------------------------------------
if [[ -e $CLUSTER_DIR ]]; then
    say "removing the leftover clusters in $CLUSTER_DIR"
    cluster clean >&2 || die "could not remove $CLUSTER_DIR"
fi
for p in "$SRC_PORT" "$TGT_PORT"; do port_free "$p" || die "port $p is in use"; done
say "starting clusters in $CLUSTER_DIR (source $SRC_PORT, target $TGT_PORT)"
CLUSTERS_UP=1
cluster start >&2 || die "tests/pg-cluster.sh start failed"
for p in "$SRC_PORT" "$TGT_PORT"; do
    [[ $(sql "$p" postgres "show wal_level") == logical ]] || die "cluster on $p: wal_level is not logical"
done
PG_VERSION=$(sql "$SRC_PORT" postgres "show server_version")

# ---- 2. data ------------------------------------------------------------------
say "pgbench -i -s $SCALE on the source, schema only on the target"
PGPASSWORD=$ADMIN_PW pgbench -i -q -I dtgvp -s "$SCALE" -h "$HOST" -p "$SRC_PORT" -U "$ADMIN_USER" "$DB" \
    >"$WORK/init-source.log" 2>&1 || { cat "$WORK/init-source.log" >&2; die "pgbench -i on the source failed"; }
PGPASSWORD=$ADMIN_PW pgbench -i -q -I dtp -s "$SCALE" -h "$HOST" -p "$TGT_PORT" -U "$ADMIN_USER" "$DB" \
    >"$WORK/init-target.log" 2>&1 || { cat "$WORK/init-target.log" >&2; die "pgbench -i on the target failed"; }

# ---- 3. orchestrator, initialize, replication ---------------------------------
"$ORCH_BIN" --listen "$HOST:$ORCH_PORT" --metrics-listen "$HOST:$((ORCH_PORT + 1))" \
    --crdb-url "$(db_url "$TGT_PORT")" --source-url "$(db_url "$SRC_PORT")" --source-dialect postgres \
    --allow-tls-mode-disable --drain-timeout 30 --replication-timeout 120 --log-level "$LOG_LEVEL" \
    >"$WORK/orchestrator.log" 2>&1 &
PIDS+=($!)
orch_answers() { curl -s -o /dev/null --max-time 2 "$ORCH_URL/api/v1/status"; }
until_true 20 "the orchestrator" orch_answers
cli initialize >"$WORK/initialize.json" || die "molt-lms-cli initialize failed: $(cat "$WORK/initialize.json")"

TABLES="pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history"
SUBS=()   # "PORT NAME" of the subscriptions that exist
SUBN=0    # publications and subscriptions made so far (their names; publications are never dropped)

# subscribe FROM_PORT TO_PORT TABLES COPY: publication on FROM, subscription on TO
subscribe() {
    local n=$SUBN
    SUBN=$((SUBN + 1))
    sql "$1" "$DB" "create publication cb_pub_$n for table $3"
    sql "$2" "$DB" "create subscription cb_sub_$n connection 'host=$HOST port=$1 dbname=$DB user=$ADMIN_USER \
password=$ADMIN_PW sslmode=disable' publication cb_pub_$n with (copy_data = $4)"
    SUBS+=("$2 cb_sub_$n")
}

# unsubscribe: drop the newest subscription (and its slot on the publisher)
unsubscribe() {
    local last=${SUBS[-1]}
    sql "${last% *}" "$DB" "drop subscription ${last#* }"
    unset 'SUBS[-1]'
}

copy_done() {
    [[ $(sql "$TGT_PORT" "$DB" "select count(*) from pg_subscription_rel where srsubstate <> 'r'") == 0 ]]
}
say "logical replication source -> target; waiting for the initial copy"
subscribe "$SRC_PORT" "$TGT_PORT" "$TABLES, _molt_lms.watermark" true
until_true 600 "the initial copy of the pgbench tables" copy_done
[[ $(sql "$TGT_PORT" "$DB" "select count(*) from pgbench_accounts") == $((SCALE * 100000)) ]] ||
    die "the target does not have every pgbench_accounts row after the initial copy"

# ---- 4. instances --------------------------------------------------------------------
for ((i = 0; i < INSTANCES; i++)); do
    mkdir -p "$WORK/lms$i"
    (cd "$WORK/lms$i" && exec "$LMS_BIN" --listen "$HOST:$((LMS_PORT0 + i))" \
        --metrics-listen "$HOST:$((LMS_PORT0 + 10 + i))" --plugin-dir "$LMS_PLUGIN_DIR" \
        --allow-tls-mode-disable --source-dialect postgres --shadow-mode none \
        --init-source "$(db_url "$SRC_PORT")" --init-target "$(db_url "$TGT_PORT")" \
        --instance-id "cbench-$i" --log-level "$LOG_LEVEL") >"$WORK/lms$i.log" 2>&1 &
    PIDS+=($!)
done
healthy_count() {
    cli status 2>/dev/null | "$PY" -c 'import json,sys; print(sum(1 for i in json.load(sys.stdin).get("instances", []) if i.get("healthy")))'
}
all_healthy() {
    local p
    for p in "${PIDS[@]}"; do
        kill -0 "$p" 2>/dev/null || { tail -n 5 "$WORK"/lms*.log "$WORK/orchestrator.log" >&2; die "a process exited (pid $p)"; }
    done
    [[ $(healthy_count) -ge $INSTANCES ]]
}
until_true 60 "$INSTANCES healthy instances in molt-lms-cli status" all_healthy
cli status >"$WORK/status-before.json"
say "$INSTANCES instances healthy"

# ---- 5. workload and cutovers -------------------------------------------------------
if [[ $SCRIPT == update ]]; then
    printf '\\set aid random(1, %d)\nUPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = :aid;\n' \
        $((SCALE * 100000)) >"$WORK/update.sql"
    SCRIPT_ARGS=(-f "$WORK/update.sql")
    # every committed transaction adds 1 to the total balance
    WRITES_SQL="select coalesce(sum(abalance), 0) from pgbench_accounts"
else
    SCRIPT_ARGS=(-b tpcb-like)
    WRITES_SQL="select count(*) from pgbench_history"
fi

TRUTH=source
other() { [[ $1 == source ]] && echo target || echo source; }
port_of() { [[ $1 == source ]] && echo "$SRC_PORT" || echo "$TGT_PORT"; }

RUN_TS=$(date -u +%Y%m%dT%H%M%SZ)
ROUNDS_TSV=$WORK/rounds.tsv
printf 'round\tfrom\tto\tlog_dir\tbegin_start\tbegin_end\tcommit_start\tcommit_end\tbegin_rc\tcommit_rc\tscript_catchup_s\treplication_reversed\tpgbench_rc\twrites_expected\twrites_new\twrites_old_at_commit\twrites_old_after\n' \
    >"$ROUNDS_TSV"

for ((r = 1; r <= ROUNDS; r++)); do
    from=$TRUTH to=$(other "$TRUTH")
    rdir=$WORK/round$r
    mkdir -p "$rdir"
    writes_before=$(sql "$(port_of "$from")" "$DB" "$WRITES_SQL")
    say "round $r/$ROUNDS: $CLIENTS clients over $INSTANCES instances, cutover $from -> $to after ${WARMUP}s"
    PGBENCH_PIDS=()
    secs=$((WARMUP + BUDGET + TAIL))
    for ((i = 0; i < INSTANCES; i++)); do
        c=$((CLIENTS / INSTANCES + (i < CLIENTS % INSTANCES ? 1 : 0)))
        rate=()
        [[ -z $RATE ]] || rate=(--rate "$(((RATE * c + CLIENTS - 1) / CLIENTS))")
        PGPASSWORD=$ADMIN_PW pgbench -n -c "$c" -j 1 -T "$secs" -M "$PROTOCOL" "${SCRIPT_ARGS[@]}" "${rate[@]}" \
            -l --log-prefix "$rdir/txlog$i" -h "$HOST" -p $((LMS_PORT0 + i)) -U "$ADMIN_USER" "$DB" \
            >"$rdir/pgbench$i.out" 2>&1 &
        PGBENCH_PIDS+=($!)
    done
    sleep "$WARMUP"

    catchup_s=0 swapped=0
    b0=$EPOCHREALTIME
    brc=0
    cli cutover consistent begin --drain-timeout 30 >"$rdir/begin.json" 2>"$rdir/begin.err" || brc=$?
    b1=$EPOCHREALTIME
    crc=0
    c0=$b1 c1=$b1
    if [[ $brc -eq 0 ]]; then
        commit_args=()
        # commit's own check needs the watermark the orchestrator writes on the
        # source to reach the target: only forward with replication source ->
        # target. Otherwise the script waits for replication itself, and before
        # a round that goes back it reverses replication (paused and drained:
        # nothing is in flight once the other side has every write).
        if [[ $from != source || $r -lt $ROUNDS ]]; then
            s0=$EPOCHREALTIME
            caught_up() {
                [[ $(sql "$(port_of "$from")" "$DB" "$WRITES_SQL") == $(sql "$(port_of "$to")" "$DB" "$WRITES_SQL") ]]
            }
            until_true 120 "replication to catch up before commit" caught_up
            if [[ $r -lt $ROUNDS ]]; then
                unsubscribe
                extra=""
                [[ $to == source ]] && extra=", _molt_lms.watermark"
                subscribe "$(port_of "$to")" "$(port_of "$from")" "$TABLES$extra" false
                swapped=1
            fi
            s1=$EPOCHREALTIME
            catchup_s=$("$PY" -c "print(round($s1 - $s0, 6))")
            commit_args=(--skip-replication-check)
        fi
        c0=$EPOCHREALTIME
        cli cutover consistent commit "${commit_args[@]}" >"$rdir/commit.json" 2>"$rdir/commit.err" || crc=$?
        c1=$EPOCHREALTIME
        if [[ $crc -ne 0 ]]; then
            say "commit failed (exit $crc): $(cat "$rdir/commit.json" "$rdir/commit.err")"
        else
            TRUTH=$to
        fi
    else
        say "begin failed (exit $brc): $(cat "$rdir/begin.json" "$rdir/begin.err"); aborting"
        cli cutover consistent abort >"$rdir/abort.json" 2>&1 || true
    fi
    # what the old source of truth holds right after the switch
    old_at_commit=$(sql "$(port_of "$from")" "$DB" "$WRITES_SQL")

    prc=0
    for p in "${PGBENCH_PIDS[@]}"; do wait "$p" || prc=$?; done
    PGBENCH_PIDS=()
    # the transactions of this round, from pgbench's own summary
    done_n=0
    for ((i = 0; i < INSTANCES; i++)); do
        n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$rdir/pgbench$i.out")
        done_n=$((done_n + ${n:-0}))
    done
    expected=$((writes_before + done_n))
    newp=$(port_of "$TRUTH")
    oldp=$(port_of "$(other "$TRUTH")")
    # the new source of truth has every write; replication may still carry the
    # old one's last writes (forward) for a moment
    writes_match() { [[ $(sql "$newp" "$DB" "$WRITES_SQL") == "$expected" ]]; }
    for ((k = 0; k < 50; k++)); do writes_match && break; sleep 0.2; done
    # with replication reversed, the old side gets every write back
    old_match() { [[ $(sql "$oldp" "$DB" "$WRITES_SQL") == "$expected" ]]; }
    if [[ $swapped -eq 1 ]]; then
        for ((k = 0; k < 100; k++)); do old_match && break; sleep 0.2; done
    fi
    new_n=$(sql "$newp" "$DB" "$WRITES_SQL")
    old_after=$(sql "$oldp" "$DB" "$WRITES_SQL")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$from" "$to" "$rdir" \
        "$b0" "$b1" "$c0" "$c1" "$brc" "$crc" "$catchup_s" "$swapped" "$prc" "$expected" "$new_n" "$old_at_commit" \
        "$old_after" >>"$ROUNDS_TSV"
    [[ $brc -eq 0 && $crc -eq 0 ]] || { say "round $r: the cutover failed; no further rounds"; break; }
done

cli status >"$WORK/status-after.json" || true
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- 6/7. report --------------------------------------------------------------------------
mkdir -p "$RESULTS_DIR"
JSON_OUT=$RESULTS_DIR/$RUN_TS-cutover.json
CB_TS=$RUN_TS CB_CLIENTS=$CLIENTS CB_INSTANCES=$INSTANCES CB_SCALE=$SCALE CB_WARMUP=$WARMUP CB_TAIL=$TAIL \
CB_BUDGET=$BUDGET CB_ROUNDS=$ROUNDS CB_SCRIPT=$SCRIPT CB_PROTOCOL=$PROTOCOL CB_RATE=$RATE CB_TARGET_MS=$TARGET_MS \
CB_NPROC=$(nproc) CB_LOAD="$LOAD" CB_PG_VERSION=$PG_VERSION CB_KERNEL=$(uname -r) \
CB_LMS_VERSION=$("$LMS_BIN" --version 2>/dev/null | head -n 1) \
    "$PY" "$BENCH_DIR/cutover_report.py" "$ROUNDS_TSV" "$JSON_OUT"
