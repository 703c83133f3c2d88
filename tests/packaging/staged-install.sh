#!/usr/bin/env bash
# staged-install.sh - install LMS into a staging root and run what was staged.
#
# Usage: tests/packaging/staged-install.sh [--fresh] [--keep]
#
# From a configured build tree (LMS_BUILDDIR, default: the repository root):
#   1. make install DESTDIR=$tmp/stage   (the same step the Dockerfile runs)
#   2. build examples/dialect-skeleton against the STAGED lms/plugin.h, found
#      through the staged lms-plugin.pc (PKG_CONFIG_PATH/PKG_CONFIG_SYSROOT_DIR),
#      once normally and once with a wrong plugin ABI (make ABI_OVERRIDE=99)
#   3. run the staged molt-lms-orchestrator and molt-lms-cli (--version), and
#      the staged molt-lms: --version, --help (default plugin dir),
#      --check-config with the skeleton as source dialect, the wrong-ABI skeleton,
#      and without --plugin-dir (it must look in the configured $(pkglibdir)/plugins).
#
#   --fresh  do not use LMS_BUILDDIR: copy the source tree, run
#            ./autogen.sh && ./configure --prefix=/usr && make, exactly as the
#            Dockerfile's build stage does, and test that build.
#   --keep   keep the temporary directory (its path is printed).
#
# Prints "N passed, M failed" and exits non-zero when anything failed.
set -uo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
SRCDIR=$(cd "$SCRIPT_DIR/../.." && pwd -P)
fresh=0 keep=0
for arg in "$@"; do
	case $arg in
	--fresh) fresh=1 ;;
	--keep) keep=1 ;;
	-h | --help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "staged-install.sh: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
	esac
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lms-staged.XXXXXX")
cleanup() { if [[ $keep -eq 1 ]]; then echo "kept $tmp"; else rm -rf "$tmp"; fi; }
trap cleanup EXIT

pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   - $*"; }
nok() { fail=$((fail + 1)); echo "FAIL - $*"; }
# check NAME COMMAND...: pass when COMMAND succeeds
check() { local name=$1; shift; if "$@"; then ok "$name"; else nok "$name"; fi; }
finish() { echo "$pass passed, $fail failed"; [[ $fail -eq 0 ]]; exit $?; }

if [[ $fresh -eq 1 ]]; then
	B=$tmp/src
	mkdir -p "$B"
	echo "# fresh build in $B"
	(cd "$SRCDIR" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$B") || {
		nok "copy the source tree"; finish; }
	if (cd "$B" && ./autogen.sh && ./configure --prefix=/usr && make -j"$(nproc)") >"$tmp/build.log" 2>&1; then
		ok "fresh build: ./autogen.sh && ./configure --prefix=/usr && make"
	else
		tail -30 "$tmp/build.log"; nok "fresh build (log above)"; finish
	fi
else
	B=${LMS_BUILDDIR:-$SRCDIR}
fi
if [[ ! -f $B/Makefile ]]; then
	nok "$B is not a configured build tree (run ./configure, or use --fresh)"; finish
fi

# The value of a make variable of the build tree, e.g. mkvar plugindir.
mkvar() { printf 'lms-print-%%:\n\t@echo $($*)\n' | make -s --no-print-directory -C "$B" -f Makefile -f - "lms-print-$1"; }
prefix=$(mkvar prefix)
bindir=$(mkvar bindir)
libdir=$(mkvar libdir)
plugindir=$(mkvar plugindir)
includedir=$(mkvar includedir)
srcdir=$(cd "$B" && cd "$(mkvar srcdir)" && pwd -P)
echo "# build tree $B (prefix=$prefix plugindir=$plugindir)"

# ---- 1. make install into a staging root
stage=$tmp/stage
if make -C "$B" install DESTDIR="$stage" >"$tmp/install.log" 2>&1; then
	ok "make install DESTDIR=$stage"
else
	tail -30 "$tmp/install.log"; nok "make install DESTDIR (log above)"; finish
fi
LMS=$stage$bindir/molt-lms
for f in "$bindir/molt-lms" "$bindir/molt-lms-orchestrator" "$bindir/molt-lms-cli" "$plugindir/postgres.so" "$plugindir/cockroach.so" "$plugindir/mysql.so" \
	"$includedir/lms/plugin.h" "$libdir/pkgconfig/lms-plugin.pc"; do
	check "staged $f" test -e "$stage$f"
done

# ---- 2. the skeleton plugin, built against the staged header
export PKG_CONFIG_PATH=$stage$libdir/pkgconfig PKG_CONFIG_SYSROOT_DIR=$stage
pc_plugindir=$(PKG_CONFIG_SYSROOT_DIR='' pkg-config --variable=plugindir lms-plugin 2>&1)
check "lms-plugin.pc: plugindir=$pc_plugindir is \$(pkglibdir)/plugins ($plugindir)" \
	test "$pc_plugindir" = "$plugindir"
cflags=$(pkg-config --cflags lms-plugin 2>&1 | xargs)
check "pkg-config --cflags lms-plugin points into the stage ($cflags)" \
	test "$cflags" = "-I$stage$includedir"
check "pkg-config --modversion lms-plugin is the package version" \
	test "$(pkg-config --modversion lms-plugin)" = "$(mkvar PACKAGE_VERSION)"

skel=$tmp/skeleton
cp -r "$srcdir/examples/dialect-skeleton" "$skel"
rm -f "$skel/skeleton.so"
pdir=$tmp/plugins bad=$tmp/plugins-badabi
mkdir -p "$pdir" "$bad"
cp "$stage$plugindir/postgres.so" "$stage$plugindir/cockroach.so" "$pdir/"
cp "$stage$plugindir/postgres.so" "$bad/"
if make -C "$skel" CFLAGS="-O2 -Werror" >"$tmp/skel.log" 2>&1 && cp "$skel/skeleton.so" "$pdir/"; then
	ok "skeleton.so builds warning-free against the staged header"
else
	cat "$tmp/skel.log"; nok "skeleton.so build (log above)"
fi
syms=$(nm -D --defined-only "$pdir/skeleton.so" 2>/dev/null | awk '{print $NF}')
check "skeleton.so exports exactly lms_dialect_entry (got: $(echo $syms))" test "$syms" = lms_dialect_entry
if make -C "$skel" ABI_OVERRIDE=99 >>"$tmp/skel.log" 2>&1 && cp "$skel/skeleton.so" "$bad/"; then
	ok "skeleton.so with ABI_OVERRIDE=99 builds"
else
	cat "$tmp/skel.log"; nok "skeleton.so ABI_OVERRIDE=99 build (log above)"
fi
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR

# ---- 3. the Dockerfile's runtime stage installs a package for every library
# the staged binaries and plugins need (ldd finds each here, dpkg -S its package)
runtime_pkgs=$(awk '/^FROM / {r = !/ AS build/} r && /apt-get install/ {i=1} i {print} i && !/\\$/ {i=0}' \
	"$srcdir/Dockerfile" |
	tr ' \\' '\n\n' | grep -E '^lib[a-z0-9.+-]+$' | sort -u)
for f in "$stage$bindir"/molt-lms* "$stage$plugindir"/*.so; do
	missing=()
	for lib in $(objdump -p "$f" 2>/dev/null | awk '/NEEDED/ {print $2}'); do
		path=$(ldd "$f" 2>/dev/null | awk -v l="$lib" '$1 == l {print $3}')
		pkg=$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1)
		case $pkg in libc6 | '') continue ;; esac
		grep -qx "$pkg" <<<"$runtime_pkgs" || missing+=("$lib ($pkg)")
	done
	check "Dockerfile runtime stage has the libraries of ${f#"$stage"}${missing:+ (missing: ${missing[*]})}" \
		test ${#missing[@]} -eq 0
done

# ---- 4. run the staged binaries
version=$(mkvar PACKAGE_VERSION)
for prog in molt-lms-orchestrator molt-lms-cli; do
	out=$("$stage$bindir/$prog" --version 2>&1)
	check "staged $prog --version: $out" test "$out" = "$prog $version"
done

URL=postgresql://u:p@127.0.0.1:1/x
common=(--allow-tls-mode-disable --init-source "$URL" --init-target "$URL" --check-config)

out=$("$LMS" --version 2>&1)
check "--version: $out" grep -qE '^molt-lms [0-9][^ ]* \(plugin ABI [0-9]+\.[0-9]+\)$' <<<"$out"

out=$("$LMS" --help 2>&1)
check "--help names the default plugin dir $plugindir" grep -qF "(default $plugindir)" <<<"$out"

before=$fail
out=$(timeout 20 "$LMS" --plugin-dir "$pdir" --source-dialect skeleton --target-dialect postgres "${common[@]}" 2>&1)
check "--check-config loads the skeleton (event=plugin_loaded dialect=skeleton)" \
	grep -qE "event=plugin_loaded dialect=skeleton family=skeleton version=[^ ]+ path=$pdir/skeleton.so" <<<"$out"
check "--check-config: the skeleton parsed INIT_SOURCE" \
	grep -qF "INIT_SOURCE: 127.0.0.1:1 (source): plugin skeleton cannot test connections; settings are valid" <<<"$out"
[[ $fail -eq $before ]] || printf '%s\n' "$out"

out=$(timeout 20 "$LMS" --plugin-dir "$bad" --source-dialect skeleton --target-dialect postgres "${common[@]}" 2>&1)
rc=$?
check "wrong-ABI skeleton refused with exit status 2 (got $rc)" test "$rc" -eq 2
check "wrong-ABI message names ABI 99.x, this ABI and the path" \
	grep -qE "molt-lms: plugin $bad/skeleton.so was built for plugin ABI 99\.[0-9]+, this molt-lms needs ABI 1\.x" <<<"$out"
check "wrong-ABI skeleton is not loaded" bash -c '! grep -q "dialect=skeleton" <<<"$1"' _ "$out"
[[ $rc -eq 2 ]] || printf '%s\n' "$out"

# Without --plugin-dir the binary looks in its configured plugin dir (not the
# stage): it either loads the plugin from there or says it cannot read it.
out=$(timeout 20 env -u LMS_PLUGIN_DIR "$LMS" --source-dialect postgres --target-dialect postgres "${common[@]}" 2>&1)
check "without --plugin-dir it looks in $plugindir" \
	grep -qE "path=$plugindir/postgres\.so|cannot read $plugindir/postgres\.so" <<<"$out"

finish
