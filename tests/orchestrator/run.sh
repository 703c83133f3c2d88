#!/usr/bin/env bash
# run.sh - run the molt-lms-orchestrator tests (fake proxy admin APIs, the
# real target database as the coordination store) through the integration
# runner, which starts the test clusters and runs pytest.  Called by
# `make check`; arguments go to pytest (e.g. -k restart).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd "$HERE/../.." && pwd -P)
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
    sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi
export LMS_BUILDDIR=${LMS_BUILDDIR:-$REPO_ROOT}
if [[ ! -x "$LMS_BUILDDIR/molt-lms-orchestrator" ]]; then
    printf '%s: error: %s/molt-lms-orchestrator is not built (run make, or set LMS_BUILDDIR)\n' \
        "${0##*/}" "$LMS_BUILDDIR" >&2
    exit 1
fi
# own logs, so a parallel `make check -j` does not mix them with the proxy suite's
export LMS_IT_LOGDIR=${LMS_IT_LOGDIR:-${LMS_TEST_DIR:-/tmp/lms-test}/orch-logs}
exec "$REPO_ROOT/tests/integration/run.sh" "$HERE" "$@"
