#!/usr/bin/env bash
# run.sh - build the pgwire and mysql fuzz targets and run each for a while.
#
# Exits non-zero when any target finds a crash (the reproducer is left in
# the build directory's artifacts/ folder).
set -euo pipefail

usage() {
	cat <<EOF
Usage: $0 [--help] [SECONDS]
Build (tests/fuzz/build.sh) and run fuzz_pg_frontend, fuzz_pg_backend,
fuzz_pg_observe, fuzz_my_frontend, fuzz_my_backend, fuzz_my_served, fuzz_my_own and fuzz_my_placeholders, each for SECONDS (default 60), with -max_len=65536.  Seeds come from
tests/fuzz/corpus/<target>/ (written by make-seeds.sh when missing); new
inputs go to \$LMS_FUZZ_OUT/corpus/<target>/ (default tests/fuzz/build/).
Reproduce a crash: tests/fuzz/build/<target> <artifact file>
EOF
}

case "${1:-}" in
-h | --help)
	usage
	exit 0
	;;
esac
secs=${1:-60}
if ! [[ $secs =~ ^[0-9]+$ ]] || [ "$secs" -lt 1 ]; then
	echo "run.sh: SECONDS must be a positive whole number, got '$secs'" >&2
	exit 2
fi

here=$(cd "$(dirname "$0")" && pwd)
out=${LMS_FUZZ_OUT:-$here/build}
"$here/build.sh" "$out"

failed=()
for target in fuzz_pg_frontend fuzz_pg_backend fuzz_pg_observe fuzz_my_frontend fuzz_my_backend fuzz_my_served \
	fuzz_my_own fuzz_my_placeholders; do
	seeds=$here/corpus/$target
	if [ ! -d "$seeds" ] || [ -z "$(ls -A "$seeds")" ]; then
		"$here/make-seeds.sh" "$here/corpus"
	fi
	work=$out/corpus/$target
	mkdir -p "$work" "$out/artifacts"
	echo "run.sh: $target for ${secs}s"
	if ! "$out/$target" -max_len=65536 -max_total_time="$secs" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$out/artifacts/$target-" "$work" "$seeds" \
		2>"$out/$target.log"; then
		failed+=("$target")
		tail -n 40 "$out/$target.log" >&2
	else
		grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)|^Done ' \
			"$out/$target.log" || true
	fi
done

if [ "${#failed[@]}" -gt 0 ]; then
	echo "run.sh: crashes in: ${failed[*]} (see $out/artifacts/ and $out/*.log)" >&2
	exit 1
fi
echo "run.sh: no crashes"
