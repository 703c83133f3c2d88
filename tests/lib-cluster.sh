# tests/lib-cluster.sh - shared by tests/pg-cluster.sh and tests/mysql-cluster.sh.
#
# Sourced, not run.  The sourcing script defines PROG (its name in messages)
# and usage() first, then calls parse_cluster_args "$@".

die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}

info() {
    printf '%s: %s\n' "$PROG" "$*" >&2
}

# parse_cluster_args ARGS...: "COMMAND [--dir DIR]" -> globals cmd and dir
# (absolute, without a trailing slash; default $LMS_TEST_DIR or
# /tmp/lms-test).  -h/--help prints usage and exits 0; no command prints it
# and exits 2.
parse_cluster_args() {
    cmd=""
    dir=${LMS_TEST_DIR:-/tmp/lms-test}
    while [[ $# -gt 0 ]]; do
        case "$1" in
            -h|--help) usage; exit 0 ;;
            --dir)
                [[ $# -ge 2 ]] || die "--dir needs an argument"
                dir=$2; shift 2 ;;
            --dir=*) dir=${1#*=}; shift ;;
            -*) die "unknown option: $1 (see --help)" ;;
            *)
                [[ -z "$cmd" ]] || die "only one command may be given (see --help)"
                cmd=$1; shift ;;
        esac
    done
    [[ -n "$cmd" ]] || { usage >&2; exit 2; }
    [[ -n "$dir" ]] || die "empty --dir"
    case "$dir" in
        /*) ;;
        *) dir=$PWD/$dir ;;
    esac
    dir=${dir%/}
    [[ -n "$dir" ]] || die "refusing to use / as the test directory"
}
