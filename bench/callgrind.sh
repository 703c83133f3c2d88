#!/usr/bin/env bash
# bench/callgrind.sh - instructions per transaction of molt-lms's data path,
# counted by valgrind's callgrind: repeatable whatever else loads the machine.
# See --help.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd -- "$SCRIPT_DIR/.." && pwd)

HOST=127.0.0.1
PG_PORT=${LMS_TEST_SOURCE_PORT:-15432}
TARGET_PORT=""
BUILTIN=select-only
LMS_PORT=16534
METRICS_PORT=16544
TXNS=5000
SHORT=1000
WARMUP=500
TOP=25
MODE=none
WORKERS=1
CLIENTS=1
ALL_THREADS=0
PERF=0
STRACE=0
KEEP=0
OUT=""
LMS_BIN=${LMS_BIN:-}
LMS_PLUGIN_DIR=${LMS_PLUGIN_DIR:-}
declare -a LMS_EXTRA_ARGS=()
export PGPASSWORD=lms-admin-pw
export PGSSLMODE=disable

usage() {
    cat <<EOF
Usage: bench/callgrind.sh [options]

Counts the instructions (callgrind "Ir") molt-lms executes per pgbench
transaction (-S by default, --builtin for another script), one client, so that a change to the data path can be measured
exactly even on a busy machine (wall-clock benchmarks are bench/run.sh).

Steps:
  1. Checks that PostgreSQL answers on $HOST:PORT (--pg-port) with the roles of
     tests/pg-cluster.sh, and runs pgbench -i -s 1 in database 'bench' when its
     tables are missing.  Starts nothing else: start the cluster first, e.g.
       LMS_TEST_DIR=/tmp/x LMS_TEST_SOURCE_PORT=P LMS_TEST_TARGET_PORT=Q tests/pg-cluster.sh start
  2. Starts molt-lms under valgrind --tool=callgrind, as bench/run.sh does
     (--shadow-mode MODE, INIT_SOURCE and INIT_TARGET both that cluster, no TLS),
     with --workers N (default $WORKERS).  --target-port makes INIT_TARGET
     another cluster (pgbench -i there too): needed for writes in the sync
     modes, where the shadow would otherwise wait for the source of truth's
     row locks on the same rows.  By default only the worker threads
     are counted (--toggle-collect=worker_main): the main and coordination
     threads do heartbeats on a timer, which would add noise.
  3. Warms up (pgbench -S -c 1 -t WARMUP), then for each of SHORT and TXNS
     transactions: callgrind_control -z, pgbench -S -c 1 -t N -n,
     callgrind_control -d.  Both runs open one connection each, so the
     difference of the two totals divided by (TXNS - SHORT) is the cost of one
     transaction without the login ("marginal Ir/tx"); total/TXNS is printed too.
  4. Prints Ir/tx and the top functions (self cost, callgrind_annotate) of the
     TXNS run, per transaction.
  With --perf, instead runs molt-lms natively and reports its task-clock
  (perf stat -p PID) per transaction of a pgbench -c 1 -t TXNS run
  (noisy on a loaded machine; callgrind's count is not).
  With --strace, runs it natively under strace -c -f -p PID for a
  pgbench -c 1 -t TXNS run and prints its system calls per transaction.

Options:
  --pg-port PORT       PostgreSQL port (default \$LMS_TEST_SOURCE_PORT or 15432)
  --target-port PORT   INIT_TARGET's PostgreSQL port (default: --pg-port)
  --builtin NAME       pgbench -b NAME (default $BUILTIN; e.g. tpcb-like,
                       which needs --target-port in the sync modes)
  --lms-bin PATH       molt-lms binary (default \$LMS_BIN, else build/molt-lms,
                       else ./molt-lms)
  --plugin-dir DIR     plugins (default \$LMS_PLUGIN_DIR, else next to the binary
                       in plugins/.libs)
  --port PORT          molt-lms SQL port (default $LMS_PORT; metrics PORT+10)
  -t, --transactions N transactions of the measured run (default $TXNS)
  --short N            transactions of the short run (default $SHORT; 0: skip it)
  --warmup N           warm-up transactions (default $WARMUP)
  --workers N          molt-lms --workers (default $WORKERS)
  --shadow-mode MODE   default $MODE
  --all-threads        count every thread, not only the workers
  --top N              functions to list (default $TOP)
  --lms-arg ARG        extra molt-lms argument (repeatable)
  --perf               perf stat task-clock instead of callgrind
  --strace             strace -c system call counts instead of callgrind
  --clients N          with --perf: pgbench -c N -j min(N,2) (default $CLIENTS)
  --out DIR            keep callgrind files and logs there (default: a temp dir,
                       removed at the end)
  -h, --help           this help
EOF
}

die() { echo "callgrind.sh: $*" >&2; exit 1; }
need_arg() { [[ $# -ge 2 ]] || die "$1 needs a value"; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --pg-port) need_arg "$@"; PG_PORT=$2; shift 2 ;;
        --target-port) need_arg "$@"; TARGET_PORT=$2; shift 2 ;;
        --builtin) need_arg "$@"; BUILTIN=$2; shift 2 ;;
        --lms-bin) need_arg "$@"; LMS_BIN=$2; shift 2 ;;
        --plugin-dir) need_arg "$@"; LMS_PLUGIN_DIR=$2; shift 2 ;;
        --port) need_arg "$@"; LMS_PORT=$2; METRICS_PORT=$(($2 + 10)); shift 2 ;;
        -t|--transactions) need_arg "$@"; TXNS=$2; shift 2 ;;
        --short) need_arg "$@"; SHORT=$2; shift 2 ;;
        --warmup) need_arg "$@"; WARMUP=$2; shift 2 ;;
        --workers) need_arg "$@"; WORKERS=$2; shift 2 ;;
        --shadow-mode) need_arg "$@"; MODE=$2; shift 2 ;;
        --all-threads) ALL_THREADS=1; shift ;;
        --top) need_arg "$@"; TOP=$2; shift 2 ;;
        --lms-arg) need_arg "$@"; LMS_EXTRA_ARGS+=("$2"); shift 2 ;;
        --perf) PERF=1; shift ;;
        --strace) STRACE=1; shift ;;
        --clients) need_arg "$@"; CLIENTS=$2; shift 2 ;;
        --out) need_arg "$@"; OUT=$2; KEEP=1; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done

[[ $SHORT -lt $TXNS ]] || die "--short must be below --transactions"
if [[ -z $LMS_BIN ]]; then
    if [[ -x $REPO_DIR/build/molt-lms ]]; then LMS_BIN=$REPO_DIR/build/molt-lms; else LMS_BIN=$REPO_DIR/molt-lms; fi
fi
[[ -x $LMS_BIN ]] || die "molt-lms binary not found at $LMS_BIN (build it, or --lms-bin)"
# libtool wrapper scripts cannot run under valgrind: use the real binary
if [[ -x $(dirname "$LMS_BIN")/.libs/molt-lms ]] && ! head -c 4 "$LMS_BIN" | grep -q ELF; then
    LMS_BIN=$(dirname "$LMS_BIN")/.libs/molt-lms
fi
LMS_BIN=$(cd "$(dirname "$LMS_BIN")" && pwd)/$(basename "$LMS_BIN")   # it runs from $OUT
[[ -n $LMS_PLUGIN_DIR ]] || LMS_PLUGIN_DIR=$(dirname "$LMS_BIN")/plugins/.libs
[[ -d $LMS_PLUGIN_DIR ]] || die "plugin dir $LMS_PLUGIN_DIR not found (--plugin-dir)"
LMS_PLUGIN_DIR=$(cd "$LMS_PLUGIN_DIR" && pwd)
for tool in pgbench psql curl; do command -v $tool >/dev/null || die "$tool not found"; done
[[ -n $TARGET_PORT ]] || TARGET_PORT=$PG_PORT
NATIVE=$((PERF + STRACE))
[[ $NATIVE -le 1 ]] || die "--perf and --strace exclude each other"
if [[ $STRACE -eq 1 ]]; then
    command -v strace >/dev/null || die "strace not found"
elif [[ $PERF -eq 0 ]]; then
    for tool in valgrind callgrind_control callgrind_annotate; do command -v $tool >/dev/null || die "$tool not found"; done
else
    command -v perf >/dev/null || die "perf not found"
fi

if [[ -z $OUT ]]; then OUT=$(mktemp -d /tmp/lms-callgrind.XXXXXX); fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LMS_PID=""
cleanup() {
    if [[ -n $LMS_PID ]]; then kill "$LMS_PID" 2>/dev/null || true; wait "$LMS_PID" 2>/dev/null || true; fi
    if [[ $KEEP -eq 0 ]]; then rm -rf "$OUT"; fi
}
trap cleanup EXIT

URL="postgresql://lms_admin:lms-admin-pw@$HOST:$PG_PORT/bench?sslmode=disable"
TARGET_URL="postgresql://lms_admin:lms-admin-pw@$HOST:$TARGET_PORT/bench?sslmode=disable"
for port in $(echo "$PG_PORT $TARGET_PORT" | tr ' ' '\n' | sort -u); do
    psql -X -q -h $HOST -p "$port" -U lms_admin -d bench -c 'select 1' >/dev/null 2>&1 ||
        die "PostgreSQL does not answer on $HOST:$port as lms_admin/bench (start tests/pg-cluster.sh)"
    if ! psql -X -q -h $HOST -p "$port" -U lms_admin -d bench -tAc 'select 1 from pgbench_accounts limit 1' 2>/dev/null | grep -q 1; then
        pgbench -i -s 1 -q -h $HOST -p "$port" -U lms_admin bench >/dev/null 2>&1 || die "pgbench -i failed on port $port"
    fi
done

LMS_ARGS=(--listen "$HOST:$LMS_PORT" --metrics-listen "$HOST:$METRICS_PORT" --plugin-dir "$LMS_PLUGIN_DIR"
          --allow-tls-mode-disable --init-source "$URL" --init-target "$TARGET_URL" --source-dialect postgres
          --shadow-mode "$MODE" --workers "$WORKERS" --log-level warn "${LMS_EXTRA_ARGS[@]}")

if [[ $NATIVE -eq 0 ]]; then
    VG=(valgrind --tool=callgrind "--callgrind-out-file=$OUT/callgrind.out.%p")
    [[ $ALL_THREADS -eq 1 ]] || VG+=(--toggle-collect=worker_main)
    ( cd "$OUT" && exec "${VG[@]}" "$LMS_BIN" "${LMS_ARGS[@]}" ) >"$OUT/molt-lms.log" 2>&1 &
else
    ( cd "$OUT" && exec "$LMS_BIN" "${LMS_ARGS[@]}" ) >"$OUT/molt-lms.log" 2>&1 &
fi
LMS_PID=$!
for ((i = 0; i < 600; i++)); do
    kill -0 "$LMS_PID" 2>/dev/null || { tail -n 20 "$OUT/molt-lms.log" >&2; die "molt-lms exited"; }
    curl -fsS -o /dev/null --max-time 2 "http://$HOST:$METRICS_PORT/readyz" 2>/dev/null && break
    sleep 0.2
done
curl -fsS -o /dev/null --max-time 2 "http://$HOST:$METRICS_PORT/readyz" 2>/dev/null ||
    die "molt-lms did not become ready (log: $OUT/molt-lms.log)"

bench() {  # bench N: pgbench -b BUILTIN, one client, through molt-lms
    pgbench -b "$BUILTIN" -n -c 1 -t "$1" -h $HOST -p "$LMS_PORT" -U lms_admin bench >"$OUT/pgbench.$1.log" 2>&1 ||
        { tail -n 5 "$OUT/pgbench.$1.log" >&2; die "pgbench -t $1 failed"; }
}

[[ $WARMUP -gt 0 ]] && bench "$WARMUP"

if [[ $PERF -eq 1 ]]; then
    # -t is per client: CLIENTS * TXNS transactions in all
    perf stat -e task-clock -x, -o "$OUT/perf.txt" -p "$LMS_PID" -- \
        pgbench -b "$BUILTIN" -n -c "$CLIENTS" -j $((CLIENTS < 2 ? CLIENTS : 2)) -t "$TXNS" -h $HOST -p "$LMS_PORT" \
        -U lms_admin bench >"$OUT/pgbench.log" 2>&1
    ms=$(awk -F, '/task-clock/ { print $1 }' "$OUT/perf.txt")
    total=$((CLIENTS * TXNS))
    echo "perf: molt-lms task-clock ${ms} ms over $total transactions ($CLIENTS clients)"
    awk -v ms="$ms" -v n="$total" 'BEGIN { printf "cpu_us_per_tx %.2f\n", ms * 1000 / n }'
    exit 0
fi

if [[ $STRACE -eq 1 ]]; then
    # every thread: the shadow's and the session's sockets are the worker's,
    # the main and coordination threads add only their timers
    strace -c -f -o "$OUT/strace.txt" -p "$LMS_PID" >/dev/null 2>&1 &
    STRACE_PID=$!
    sleep 1   # strace attaches to every thread
    bench "$TXNS"
    kill -INT "$STRACE_PID"
    wait "$STRACE_PID" 2>/dev/null || true
    echo "strace: molt-lms --shadow-mode $MODE, pgbench -b $BUILTIN -c 1 -t $TXNS (all threads)"
    awk -v n="$TXNS" '
        $1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" {
            err = NF == 6 ? sprintf("  (%.2f/tx failed)", $5 / n) : ""
            printf "%8.2f  %s%s\n", $4 / n, $NF, err; total += $4 }
        END { printf "%8.2f  system calls per transaction in all\n", total / n }' "$OUT/strace.txt"
    exit 0
fi

# measure N: zero the counters, run N transactions, dump; prints the dump file
measure() {
    local n=$1 before
    before=$(ls "$OUT"/callgrind.out.* 2>/dev/null | wc -l)
    callgrind_control -z "$LMS_PID" >/dev/null
    bench "$n"
    callgrind_control -d "$LMS_PID" >/dev/null
    for ((i = 0; i < 100; i++)); do
        [[ $(ls "$OUT"/callgrind.out.* 2>/dev/null | wc -l) -gt $before ]] && break
        sleep 0.1
    done
    ls -t "$OUT"/callgrind.out.* | head -n 1
}
shadow_counts() {  # "result=count ..." of lms_shadow_requests_total now
    curl -fsS --max-time 5 "http://$HOST:$METRICS_PORT/metrics" 2>/dev/null |
        awk '/^lms_shadow_requests_total[{]/ { split($1, a, "\""); printf "%s=%s ", a[2], $2 }'
}
total_ir() {  # total Ir of a dump
    callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }'
}

counts_before=$(shadow_counts)
long_file=$(measure "$TXNS")
counts_after=$(shadow_counts)
long_ir=$(total_ir "$long_file")
short_ir=""
if [[ $SHORT -gt 0 ]]; then
    short_file=$(measure "$SHORT")
    short_ir=$(total_ir "$short_file")
fi

echo "molt-lms: $LMS_BIN --shadow-mode $MODE --workers $WORKERS, pgbench -b $BUILTIN $([[ $ALL_THREADS -eq 1 ]] && echo '(all threads)' || echo '(worker threads only)')"
awk -v ir="$long_ir" -v n="$TXNS" 'BEGIN { printf "Ir total %d over %d transactions: %.0f Ir/tx\n", ir, n, ir / n }'
if [[ -n $short_ir ]]; then
    awk -v a="$long_ir" -v b="$short_ir" -v n="$TXNS" -v m="$SHORT" \
        'BEGIN { printf "marginal (runs of %d and %d, login excluded): %.0f Ir/tx\n", n, m, (a - b) / (n - m) }'
fi
if [[ $MODE != none ]]; then
    # async drops a request while the shadow is busy: fewer compared, fewer
    # instructions; say how many were, to compare runs fairly
    echo "shadowed requests of the $TXNS-transaction run: $(awk -v b="$counts_before" -v a="$counts_after" '
        BEGIN { nb = split(b, x, " "); for (i = 1; i <= nb; i++) { split(x[i], kv, "="); before[kv[1]] = kv[2] }
                na = split(a, y, " "); for (i = 1; i <= na; i++) { split(y[i], kv, "="); d = kv[2] - before[kv[1]]
                    if (d > 0) printf "%s %d  ", kv[1], d } }')"
fi
echo
echo "top $TOP functions (self Ir per transaction, $TXNS-transaction run):"
# (the threads' entry functions still on the stack at the dump show the
# whole total as their own: left out)
callgrind_annotate --inclusive=no --threshold=100 "$long_file" 2>/dev/null |
    awk -v n="$TXNS" -v top="$TOP" -v total="$long_ir" '
        /^-+$/ { sep++; next }
        sep >= 3 && NF >= 2 && $1 ~ /^[0-9,]+$/ {
            ir = $1; gsub(",", "", ir); if (ir + 0 >= total + 0) next
            $1 = ""; sub(/^ +/, "")
            sub(/^\([^)]*\) +/, "")
            if (shown < top) { printf "%8.1f  %s\n", ir / n, $0; shown++ }
        }'
[[ $KEEP -eq 1 ]] && echo "files kept in $OUT"
exit 0
