#!/usr/bin/env bash
# deb.sh - build the Debian packages, lint them, install them, run the
# installed proxy against real PostgreSQL servers, and remove them.
#
# Usage: tests/packaging/deb.sh [--keep]      (as root, or with sudo available)
#
#   1. copies the source tree (git ls-files: tracked and untracked, not ignored)
#      to a temporary directory, so the working tree stays clean, and runs
#      dpkg-buildpackage -us -uc -b there (unit tests included, see debian/rules)
#   2. lintian on the .changes: errors fail the test, warnings are listed
#   3. dpkg -i the packages; checks the installed files, the molt-lms user,
#      the conffile, the unit; builds the installed skeleton example against
#      the installed header
#   4. runs the INSTALLED /usr/bin/molt-lms (as the molt-lms user, without
#      --plugin-dir) against throwaway clusters from tests/pg-cluster.sh, runs
#      psql through it, stops it with SIGTERM and expects exit status 0
#   5. dpkg -r the packages
#
# Needs: dpkg-dev debhelper lintian fakeroot (and the build dependencies in
# debian/control; tests/setup-debian.sh installs those and PostgreSQL 15).
# Environment: LMS_DEB_PG_DIR (default $tmp/pg), LMS_DEB_SOURCE_PORT (25432),
# LMS_DEB_TARGET_PORT (25433): the clusters are private to this test, on their
# own ports, so a cluster the integration tests use is left alone.
# Prints "N passed, M failed" and exits non-zero when anything failed.
set -uo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
SRCDIR=$(cd "$SCRIPT_DIR/../.." && pwd -P)
keep=0
case "${1:-}" in
--keep) keep=1 ;;
-h | --help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
"") ;;
*) echo "deb.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
esac

SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO=sudo

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lms-deb.XXXXXX")
chmod 0755 "$tmp"
PGDIR=${LMS_DEB_PG_DIR:-$tmp/pg}
SPORT=${LMS_DEB_SOURCE_PORT:-25432}
TPORT=${LMS_DEB_TARGET_PORT:-25433}
pg() { LMS_TEST_DIR=$PGDIR LMS_TEST_SOURCE_PORT=$SPORT LMS_TEST_TARGET_PORT=$TPORT \
	"$SRCDIR/tests/pg-cluster.sh" "$@"; }
proxy_pid="" pg_started=0 installed=()

cleanup() {
	[[ -n $proxy_pid ]] && kill "$proxy_pid" 2>/dev/null
	[[ $pg_started -eq 1 ]] && pg clean >/dev/null 2>&1
	[[ ${#installed[@]} -gt 0 ]] && $SUDO dpkg -r "${installed[@]}" >/dev/null 2>&1
	if [[ $keep -eq 1 ]]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   - $*"; }
nok() { fail=$((fail + 1)); echo "FAIL - $*"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else nok "$name"; fi; }
finish() { echo "$pass passed, $fail failed"; [[ $fail -eq 0 ]]; exit $?; }
t0=$SECONDS
elapsed() { echo "$((SECONDS - t0)) s"; }

for tool in dpkg-buildpackage dh lintian fakeroot; do
	command -v "$tool" >/dev/null || { nok "$tool is not installed (apt-get install dpkg-dev debhelper lintian fakeroot)"; finish; }
done

# ---- 1. build, in a copy of the tree
version=$(dpkg-parsechangelog -l "$SRCDIR/debian/changelog" -S Version)
src=$tmp/molt-lms-${version%-*}
mkdir -p "$src"
(cd "$SRCDIR" && git ls-files -co --exclude-standard -z | xargs -0 cp -a --parents -t "$src") ||
	{ nok "copy the source tree"; finish; }
echo "# dpkg-buildpackage -us -uc -b in $src"
if (cd "$src" && dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1; then
	ok "dpkg-buildpackage -us -uc -b ($(elapsed))"
else
	tail -40 "$tmp/build.log"; nok "dpkg-buildpackage (log above)"; finish
fi
check "the unit tests ran during the build" grep -qE '^PASS: tests/unit/check_plugin_loader' "$tmp/build.log"
changes=$(ls "$tmp"/*.changes)
mapfile -t debs < <(ls "$tmp"/*.deb)
echo "# built: $(cd "$tmp" && echo *.deb)"
for p in molt-lms molt-lms-dev; do
	check "package $p was built" test -n "$(ls "$tmp/${p}_"*.deb 2>/dev/null)"
done

# ---- 2. lintian
lintian --info --display-info "$changes" >"$tmp/lintian.log" 2>&1
echo "# lintian: $(grep -c '^E:' "$tmp/lintian.log") errors, $(grep -c '^W:' "$tmp/lintian.log") warnings, $(grep -c '^I:' "$tmp/lintian.log") info"
grep -E '^[EW]:' "$tmp/lintian.log" | sed 's/^/#   /'
check "lintian reports no errors" bash -c '! grep -q "^E:" "$1"' _ "$tmp/lintian.log"

# ---- 3. install
if $SUDO dpkg -i "${debs[@]}" >"$tmp/install.log" 2>&1; then
	mapfile -t installed < <(for d in "${debs[@]}"; do dpkg-deb -f "$d" Package; done)
	ok "dpkg -i ${installed[*]}"
else
	cat "$tmp/install.log"; nok "dpkg -i (log above)"; finish
fi
PLUGINDIR=/usr/lib/molt-lms/plugins
for f in /usr/bin/molt-lms $PLUGINDIR/postgres.so $PLUGINDIR/cockroach.so \
	/usr/share/man/man1/molt-lms.1.gz /usr/include/lms/plugin.h /usr/share/pkgconfig/lms-plugin.pc \
	/etc/molt-lms/config.json; do
	check "installed $f" test -e "$f"
done
check "no libtool archives in $PLUGINDIR" test -z "$(ls $PLUGINDIR/*.la 2>/dev/null)"
unit=$(dpkg -L molt-lms | grep '/molt-lms\.service$' | head -1)
check "systemd unit installed (${unit:-none})" test -n "$unit"
if [[ -n $unit ]] && command -v systemd-analyze >/dev/null; then
	check "systemd-analyze verify --man=no $unit" systemd-analyze verify --man=no "$unit"
fi
check "/etc/molt-lms/config.json is a conffile" grep -qx ' */etc/molt-lms/config.json [0-9a-f]*' \
	<<<"$(dpkg-query -W -f='${Conffiles}\n' molt-lms)"
check "system user molt-lms exists" bash -c "getent passwd molt-lms >/dev/null"
check "config.json is root:molt-lms 0640 ($(stat -c '%U:%G %a' /etc/molt-lms/config.json))" \
	test "$(stat -c '%U:%G %a' /etc/molt-lms/config.json)" = "root:molt-lms 640"

out=$(/usr/bin/molt-lms --version 2>&1)
check "installed --version: $out" grep -qE "^molt-lms ${version%-*} \(plugin ABI [0-9]+\.[0-9]+\)$" <<<"$out"
check "installed --help names the default plugin dir $PLUGINDIR" \
	grep -qF "(default $PLUGINDIR)" <<<"$(/usr/bin/molt-lms --help)"
check "pkg-config --variable=plugindir lms-plugin is $PLUGINDIR" \
	test "$(pkg-config --variable=plugindir lms-plugin)" = "$PLUGINDIR"

# The example as the package ships it, built against the installed header.
ex=/usr/share/doc/molt-lms-dev/examples/dialect-skeleton
skel=$tmp/skeleton
mkdir -p "$skel"
cp -r "$ex/." "$skel/" 2>/dev/null
gunzip -f "$skel"/*.gz 2>/dev/null
check "example shipped in $ex" test -f "$skel/skeleton.c" -a -f "$skel/Makefile"
if make -C "$skel" >"$tmp/skel.log" 2>&1; then
	ok "installed skeleton example builds against the installed header"
	out=$(cd "$tmp" && timeout 20 /usr/bin/molt-lms --plugin-dir "$skel" --source-dialect skeleton \
		--target-dialect skeleton --allow-tls-mode-disable --init-source tcp://127.0.0.1:1 \
		--init-target tcp://127.0.0.1:1 --check-config 2>&1)
	check "installed molt-lms loads it (dialect=skeleton)" grep -q "event=plugin_loaded dialect=skeleton" <<<"$out"
else
	cat "$tmp/skel.log"; nok "installed skeleton example build (log above)"
fi

# ---- 4. a real proxy run of the installed binary, as the molt-lms user
if pg start >"$tmp/pg.log" 2>&1; then
	pg_started=1
	ok "test clusters started (source 127.0.0.1:$SPORT, target 127.0.0.1:$TPORT)"
else
	tail -20 "$tmp/pg.log"; nok "tests/pg-cluster.sh start (log above)"; finish
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port) mport=$(free_port)
runas=()
# setpriv execs molt-lms itself (runuser would stay as its parent and turn
# SIGTERM into a kill).
[[ $(id -u) -eq 0 ]] && runas=(setpriv --reuid=molt-lms --regid=molt-lms --init-groups --)
# INIT_SOURCE through the environment, as the systemd unit's EnvironmentFile would.
(cd / && exec env INIT_SOURCE="postgresql://lms_admin:lms-admin-pw@127.0.0.1:$SPORT/appdb?sslmode=disable" \
	INIT_TARGET="postgresql://lms_admin:lms-admin-pw@127.0.0.1:$TPORT/appdb?sslmode=disable" \
	"${runas[@]}" /usr/bin/molt-lms --source-dialect postgres --allow-tls-mode-disable \
	--listen "127.0.0.1:$port" --metrics-listen "127.0.0.1:$mport" --workers 2) \
	>"$tmp/proxy.log" 2>&1 &
proxy_pid=$!
for _ in $(seq 100); do
	grep -q 'event=listening' "$tmp/proxy.log" && break
	kill -0 "$proxy_pid" 2>/dev/null || break
	sleep 0.1
done
check "installed molt-lms found its installed plugin" grep -q "event=plugin_loaded dialect=postgres .*path=$PLUGINDIR/postgres.so" "$tmp/proxy.log"
check "installed molt-lms is listening on 127.0.0.1:$port" grep -q 'event=listening' "$tmp/proxy.log"
out=$(PGPASSWORD=app-pw PGSSLMODE=disable PGCONNECT_TIMEOUT=10 timeout 30 \
	psql -X -At -h 127.0.0.1 -p "$port" -U app -d appdb -c 'select 1' 2>&1)
check "psql -c 'select 1' through the installed proxy as app (got: $out)" test "$out" = 1
kill -TERM "$proxy_pid" 2>/dev/null
wait "$proxy_pid"
rc=$?
proxy_pid=""
check "SIGTERM: molt-lms exits with status 0 (got $rc)" test "$rc" -eq 0
[[ $fail -eq 0 ]] || { echo "# proxy log:"; sed 's/^/#   /' "$tmp/proxy.log"; }
pg clean >/dev/null 2>&1
pg_started=0

# ---- 5. remove
if $SUDO dpkg -r "${installed[@]}" >"$tmp/remove.log" 2>&1; then
	ok "dpkg -r ${installed[*]}"
	installed=()
else
	cat "$tmp/remove.log"; nok "dpkg -r (log above)"
fi
check "/usr/bin/molt-lms is gone" test ! -e /usr/bin/molt-lms
check "$PLUGINDIR is gone" test ! -e "$PLUGINDIR"
echo "# total $(elapsed)"
finish
