#!/usr/bin/env bash
# build.sh - build the pgwire and mysql libFuzzer targets with clang, outside
# automake.
#
# Compiles plugins/pgwire/*.c (plugins/mysql/*.c for fuzz_my_*; both for
# fuzz_my_placeholders) and plugins/common/*.c together
# with each tests/fuzz/fuzz_*.c under
# -fsanitize=fuzzer,address,undefined.  Needs a configured tree (for
# autoconfig.h), clang with libFuzzer, and libpq.
set -euo pipefail

usage() {
	cat <<EOF
Usage: $0 [--help] [OUTDIR]
Build fuzz_pg_frontend, fuzz_pg_backend, fuzz_pg_observe, fuzz_my_frontend,
fuzz_my_backend, fuzz_my_served, fuzz_my_own and fuzz_my_placeholders into OUTDIR
(default: \$LMS_FUZZ_OUT or tests/fuzz/build).
Environment: CC (default clang), EXTRA_CFLAGS, LMS_BUILDDIR (the configured
build tree holding autoconfig.h; default: the source tree).
EOF
}

case "${1:-}" in
-h | --help)
	usage
	exit 0
	;;
-*)
	usage >&2
	exit 2
	;;
esac

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-${LMS_FUZZ_OUT:-$here/build}}
cc=${CC:-clang}
builddir=${LMS_BUILDDIR:-$root}

if [ ! -f "$builddir/autoconfig.h" ]; then
	echo "build.sh: $builddir/autoconfig.h is missing: run ./configure first (or set LMS_BUILDDIR)" >&2
	exit 1
fi
if ! command -v "$cc" >/dev/null; then
	echo "build.sh: compiler '$cc' not found (set CC to a clang with libFuzzer)" >&2
	exit 1
fi

read -r -a pq_cflags <<<"$(pkg-config --cflags libpq 2>/dev/null || echo "-I$(pg_config --includedir)")"
read -r -a pq_libs <<<"$(pkg-config --libs libpq openssl 2>/dev/null || echo -lpq -lcrypto)"
read -r -a extra <<<"${EXTRA_CFLAGS:-}"

cflags=(-std=c11 -D_GNU_SOURCE -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -g -O1 -fno-omit-frame-pointer
	"-fsanitize=fuzzer,address,undefined" -fno-sanitize-recover=undefined
	-Wall -Wextra -Werror -Wno-unused-parameter
	-I "$root/include" -I "$builddir" -I "$root/plugins/pgwire" -I "$root/plugins/common"
	"${pq_cflags[@]}" "${extra[@]}")

mkdir -p "$out"
for target in fuzz_pg_frontend fuzz_pg_backend fuzz_pg_observe; do
	echo "build.sh: $out/$target"
	"$cc" "${cflags[@]}" -o "$out/$target" "$here/$target.c" \
		"$root"/plugins/pgwire/*.c "$root"/plugins/common/*.c "${pq_libs[@]}"
done
# mysql.so's parsers: plugins/mysql without its entry file
my_sources=()
for f in "$root"/plugins/mysql/*.c; do
	[ "$(basename "$f")" = mysql.c ] || my_sources+=("$f")
done
for target in fuzz_my_frontend fuzz_my_backend fuzz_my_served fuzz_my_own; do
	echo "build.sh: $out/$target"
	"$cc" "${cflags[@]}" -I "$root/plugins/mysql" -o "$out/$target" "$here/$target.c" "${my_sources[@]}" \
		"$root"/plugins/common/*.c "${pq_libs[@]}"
done
# the placeholder rewriter: mysql.so's scanner, pgwire's encoder
echo "build.sh: $out/fuzz_my_placeholders"
"$cc" "${cflags[@]}" -I "$root/plugins/mysql" -o "$out/fuzz_my_placeholders" "$here/fuzz_my_placeholders.c" \
	"${my_sources[@]}" "$root"/plugins/pgwire/*.c "$root"/plugins/common/*.c "${pq_libs[@]}"
