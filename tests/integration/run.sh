#!/usr/bin/env bash
# run.sh - run the LMS integration suite (pytest) against molt-lms and the
# throwaway PostgreSQL clusters of tests/pg-cluster.sh. Called by `make check`.
set -euo pipefail

PROG=${0##*/}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd "$HERE/../.." && pwd -P)

usage() {
    cat <<USAGE
Usage: $PROG [PYTEST-ARGS...]

Start the test clusters (tests/pg-cluster.sh start), then run the integration
tests in tests/integration with pytest -q. Extra arguments go to pytest,
e.g. '$PROG -k tls' or '$PROG test_05_large_result.py -x'.
Exit status: pytest's (0 = all passed).

Environment:
  LMS_BUILDDIR          build tree holding molt-lms and plugins/.libs
                        (default: the repository root, $REPO_ROOT)
  LMS_IT_DIRECT=1       no proxy: run the tests straight against the source
                        database (checks the tests themselves)
  LMS_IT_WRAPPER        command prefix for molt-lms, e.g. "valgrind -q"
  LMS_IT_TIMEOUT_SCALE  multiply timeouts (default 1, 10 under valgrind)
  LMS_IT_TEST_TIMEOUT   per-test limit in seconds (default 90): client
                        connections are then shut down; 60 s later the run aborts
  LMS_IT_LOG_LEVEL      molt-lms --log-level (default info)
  LMS_IT_LOGDIR         where proxy logs go (default \$LMS_TEST_DIR/it-logs)
  LMS_IT_PYTHON         Python with pytest and psycopg2 (default /usr/bin/python3)
  LMS_IT_STOP_CLUSTERS=1  stop the clusters afterwards
  LMS_TEST_DIR, LMS_TEST_SOURCE_PORT, LMS_TEST_TARGET_PORT, PGBIN: see
                        tests/pg-cluster.sh --help
USAGE
}

for arg in "$@"; do
    case "$arg" in
        -h|--help) usage; exit 0 ;;
        --) break ;;
    esac
done

py=${LMS_IT_PYTHON:-/usr/bin/python3}
if ! "$py" -c 'import pytest, psycopg2' 2>/dev/null; then
    printf '%s: error: %s cannot import pytest and psycopg2 (Debian: apt-get install python3-pytest python3-psycopg2)\n' \
        "$PROG" "$py" >&2
    exit 1
fi

export LMS_BUILDDIR=${LMS_BUILDDIR:-$REPO_ROOT}
if [[ "${LMS_IT_DIRECT:-0}" != 1 && ! -x "$LMS_BUILDDIR/molt-lms" ]]; then
    printf '%s: error: %s/molt-lms is not built (run make, set LMS_BUILDDIR, or LMS_IT_DIRECT=1)\n' \
        "$PROG" "$LMS_BUILDDIR" >&2
    exit 1
fi

cluster=$REPO_ROOT/tests/pg-cluster.sh
"$cluster" start
eval "$("$cluster" env)"
export LMS_IT_LOGDIR=${LMS_IT_LOGDIR:-$LMS_TEST_DIR/it-logs}
mkdir -p "$LMS_IT_LOGDIR"
log=$LMS_IT_LOGDIR/pytest.log
rm -f "$LMS_IT_LOGDIR"/hang-*.txt

set +e
(cd "$HERE" && "$py" -m pytest -q "$@") 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e

for f in "$LMS_IT_LOGDIR"/hang-*.txt; do
    [[ -s "$f" ]] || continue
    printf '%s: pytest was aborted by the per-test time limit (%s):\n' "$PROG" "$f" >&2
    cat "$f" >&2
    [[ $rc -ne 0 ]] || rc=1
done
printf '%s: pytest exit status %d; full output in %s, proxy logs in %s\n' \
    "$PROG" "$rc" "$log" "$LMS_IT_LOGDIR" >&2
if [[ "${LMS_IT_STOP_CLUSTERS:-0}" == 1 ]]; then
    "$cluster" stop || true
fi
exit "$rc"
