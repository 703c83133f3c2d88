#!/bin/sh
# docker-entrypoint.sh - choose the LMS program to run from the first argument.
#
#   docker run IMAGE [molt-lms] [OPTION]...               the proxy (the default)
#   docker run IMAGE molt-lms-orchestrator [OPTION]...    the orchestrator
#   docker run IMAGE molt-lms-cli [OPTION]...             the operator CLI
#   docker run IMAGE --source-dialect postgres ...        options only: the proxy
#   docker run IMAGE sh                                   anything else is run as is
#
# The short names "proxy", "orchestrator" and "cli" work too.  Settings come
# from flags, LMS_* / INIT_* environment variables or --config FILE.
set -e

prog=molt-lms
case "${1:-}" in
molt-lms | proxy) prog=molt-lms; shift ;;
molt-lms-orchestrator | orchestrator) prog=molt-lms-orchestrator; shift ;;
molt-lms-cli | cli) prog=molt-lms-cli; shift ;;
"" | -*) ;;
*) exec "$@" ;;
esac

if ! command -v "$prog" >/dev/null 2>&1; then
	echo "docker-entrypoint.sh: $prog is not in this image" >&2
	exit 127
fi
exec "$prog" "$@"
