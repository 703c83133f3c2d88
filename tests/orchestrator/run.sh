#!/usr/bin/env bash
# run.sh - run the molt-lms-orchestrator tests (pytest) against fake proxy
# admin APIs and the real test clusters of tests/pg-cluster.sh (the
# coordination store lives in a throwaway database on the target).
# Called by `make check`.
set -euo pipefail

PROG=${0##*/}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd "$HERE/../.." && pwd -P)

case "${1:-}" in
-h|--help)
    cat <<USAGE
Usage: $PROG [PYTEST-ARGS...]

Start the test clusters (tests/pg-cluster.sh start), then run the tests in
tests/orchestrator with pytest -q; extra arguments go to pytest.
Exit status: pytest's (0 = all passed).

Environment:
  LMS_BUILDDIR     build tree holding molt-lms-orchestrator (default $REPO_ROOT)
  LMS_IT_LOGDIR    where orchestrator logs go (default \$LMS_TEST_DIR/orch-logs)
  LMS_IT_PYTHON    Python with pytest and psycopg2 (default /usr/bin/python3)
  LMS_TEST_DIR, LMS_TEST_SOURCE_PORT, LMS_TEST_TARGET_PORT: see tests/pg-cluster.sh --help
USAGE
    exit 0 ;;
esac

py=${LMS_IT_PYTHON:-/usr/bin/python3}
if ! "$py" -c 'import pytest, psycopg2' 2>/dev/null; then
    printf '%s: error: %s cannot import pytest and psycopg2 (Debian: apt-get install python3-pytest python3-psycopg2)\n' \
        "$PROG" "$py" >&2
    exit 1
fi
export LMS_BUILDDIR=${LMS_BUILDDIR:-$REPO_ROOT}
if [[ ! -x "$LMS_BUILDDIR/molt-lms-orchestrator" ]]; then
    printf '%s: error: %s/molt-lms-orchestrator is not built (run make, or set LMS_BUILDDIR)\n' \
        "$PROG" "$LMS_BUILDDIR" >&2
    exit 1
fi

cluster=$REPO_ROOT/tests/pg-cluster.sh
"$cluster" start
eval "$("$cluster" env)"
export LMS_IT_LOGDIR=${LMS_IT_LOGDIR:-$LMS_TEST_DIR/orch-logs}
mkdir -p "$LMS_IT_LOGDIR"

set +e
(cd "$HERE" && "$py" -m pytest -q -p no:cacheprovider "$@")
rc=$?
set -e
printf '%s: pytest exit status %d; orchestrator logs in %s\n' "$PROG" "$rc" "$LMS_IT_LOGDIR" >&2
exit "$rc"
