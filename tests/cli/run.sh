#!/usr/bin/env bash
# run.sh - run the molt-lms-cli tests (pytest) against a fake orchestrator
# (tests/cli/fakeorch.py).  No database is needed.  Called by `make check`.
set -euo pipefail

PROG=${0##*/}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd "$HERE/../.." && pwd -P)

usage() {
    cat <<USAGE
Usage: $PROG [PYTEST-ARGS...]

Run the CLI tests in tests/cli with pytest -q; extra arguments go to pytest,
e.g. '$PROG -k tls'.  Exit status: pytest's (0 = all passed).

Environment:
  LMS_BUILDDIR     build tree holding molt-lms-cli (default: $REPO_ROOT)
  LMS_TEST_DIR     test directory; certificates in \$LMS_TEST_DIR/certs, made by
                   tests/certs/gen-certs.sh if missing (default /tmp/lms-test)
  LMS_IT_PYTHON    Python with pytest (default /usr/bin/python3)
USAGE
}

for arg in "$@"; do
    case "$arg" in
        -h|--help) usage; exit 0 ;;
        --) break ;;
    esac
done

py=${LMS_IT_PYTHON:-/usr/bin/python3}
if ! "$py" -c 'import pytest' 2>/dev/null; then
    printf '%s: error: %s cannot import pytest (Debian: apt-get install python3-pytest)\n' \
        "$PROG" "$py" >&2
    exit 1
fi
export LMS_BUILDDIR=${LMS_BUILDDIR:-$REPO_ROOT}
if [[ ! -x "$LMS_BUILDDIR/molt-lms-cli" ]]; then
    printf '%s: error: %s/molt-lms-cli is not built (run make, or set LMS_BUILDDIR)\n' \
        "$PROG" "$LMS_BUILDDIR" >&2
    exit 1
fi
export LMS_TEST_DIR=${LMS_TEST_DIR:-/tmp/lms-test}
export LMS_TEST_CERTS=$LMS_TEST_DIR/certs
"$REPO_ROOT/tests/certs/gen-certs.sh" "$LMS_TEST_CERTS" >/dev/null

cd "$HERE" && exec "$py" -m pytest -q "$@"
