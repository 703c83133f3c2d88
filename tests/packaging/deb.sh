#!/usr/bin/env bash
# deb.sh - build the Debian packages, lint them, install them, run the
# installed proxy, orchestrator and CLI against real PostgreSQL servers, and
# remove them.
#
# Usage: tests/packaging/deb.sh [--keep]      (as root, or with sudo available)
#
#   1. copies the source tree (git ls-files: tracked and untracked, not ignored)
#      to a temporary directory, so the working tree stays clean, and runs
#      dpkg-buildpackage -us -uc -b there (unit tests included, see debian/rules)
#   2. lintian on the .changes: errors fail the test, warnings are listed
#   3. dpkg -i the packages (molt-lms, molt-lms-orchestrator, molt-lms-cli,
#      molt-lms-dev); checks the installed files, the system users, the
#      conffiles, the units; builds the installed skeleton example against
#      the installed header
#   4. runs the INSTALLED /usr/bin/molt-lms (as the molt-lms user, without
#      --plugin-dir) against throwaway clusters from tests/pg-cluster.sh, runs
#      psql through it; runs the INSTALLED molt-lms-orchestrator (as its user)
#      with a throwaway database as CRDB_URL and the proxy as LMS_URL, and the
#      INSTALLED molt-lms-cli initialize and status against it; stops both
#      with SIGTERM and expects exit status 0
#   5. dpkg -r the packages
#
# Needs: dpkg-dev debhelper lintian fakeroot (and the build dependencies in
# debian/control; tests/setup-debian.sh installs those and PostgreSQL 15).
# Environment: LMS_DEB_PG_DIR (default $tmp/pg), LMS_DEB_SOURCE_PORT (25432),
# LMS_DEB_TARGET_PORT (25433), LMS_DEB_MYSQL_PORT (23306, the MariaDB that the
# installed mysql.so is tried against): the servers are private to this test, on
# their own ports, so a server the integration tests use is left alone.
# Prints "N passed, M failed" and exits non-zero when anything failed.
set -uo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
SRCDIR=$(cd "$SCRIPT_DIR/../.." && pwd -P)
keep=0
case "${1:-}" in
--keep) keep=1 ;;
-h | --help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
MPORT=${LMS_DEB_MYSQL_PORT:-23306}
my() { LMS_TEST_DIR=$PGDIR LMS_TEST_MYSQL_PORT=$MPORT "$SRCDIR/tests/mysql-cluster.sh" "$@"; }
proxy_pid="" orch_pid="" pg_started=0 my_started=0 installed=()

cleanup() {
	[[ -n $orch_pid ]] && kill "$orch_pid" 2>/dev/null
	[[ -n $proxy_pid ]] && kill "$proxy_pid" 2>/dev/null
	[[ $my_started -eq 1 ]] && my clean >/dev/null 2>&1
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
if (cd "$src" && dpkg-buildpackage -us -uc -b -J) >"$tmp/build.log" 2>&1; then
	ok "dpkg-buildpackage -us -uc -b ($(elapsed))"
else
	tail -40 "$tmp/build.log"; nok "dpkg-buildpackage (log above)"; finish
fi
check "the unit tests ran during the build" grep -qE '^PASS: tests/unit/check_plugin_loader' "$tmp/build.log"
changes=$(ls "$tmp"/*.changes)
mapfile -t debs < <(ls "$tmp"/*.deb)
echo "# built: $(cd "$tmp" && echo *.deb)"
for p in molt-lms molt-lms-orchestrator molt-lms-cli molt-lms-dev; do
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
# owned PACKAGE FILE: FILE exists and belongs to PACKAGE (dpkg -S)
owned() { test -e "$2" && dpkg -S "$2" 2>/dev/null | grep -qx "$1: $2"; }
for f in molt-lms:/usr/bin/molt-lms molt-lms:$PLUGINDIR/postgres.so molt-lms:$PLUGINDIR/cockroach.so \
	molt-lms:$PLUGINDIR/mysql.so molt-lms:/usr/share/doc/molt-lms/mysql.md.gz \
	molt-lms:/usr/share/man/man1/molt-lms.1.gz molt-lms:/etc/molt-lms/config.json \
	molt-lms-orchestrator:/usr/bin/molt-lms-orchestrator \
	molt-lms-orchestrator:/usr/share/man/man1/molt-lms-orchestrator.1.gz \
	molt-lms-orchestrator:/etc/molt-lms/orchestrator.json \
	molt-lms-cli:/usr/bin/molt-lms-cli molt-lms-cli:/usr/share/man/man1/molt-lms-cli.1.gz \
	molt-lms-dev:/usr/include/lms/plugin.h molt-lms-dev:/usr/share/pkgconfig/lms-plugin.pc; do
	check "installed ${f#*:} (package ${f%%:*})" owned "${f%%:*}" "${f#*:}"
done
check "no libtool archives in $PLUGINDIR" test -z "$(ls $PLUGINDIR/*.la 2>/dev/null)"
# pkg USER CONFFILE: the daemon's unit, conffile, system user and modes.
# Its unit must not be enabled: it cannot start before the admin edits the conffile.
daemon_checks() {
	local pkg=$1 conf=$2 tlsdir=$3 unit
	unit=$(dpkg -L "$pkg" | grep "/$pkg\.service\$" | head -1)
	check "$pkg: systemd unit installed (${unit:-none})" test -n "$unit"
	if [[ -n $unit ]] && command -v systemd-analyze >/dev/null; then
		check "systemd-analyze verify --man=no $unit" systemd-analyze verify --man=no "$unit"
	fi
	if [[ -n $unit ]]; then
		check "$pkg.service runs as User=$pkg with --config $conf" \
			bash -c 'grep -qx "User=$1" "$3" && grep -q "^ExecStart=/usr/bin/$1 --config $2\$" "$3" &&
				grep -qx "EnvironmentFile=-/etc/default/$1" "$3"' _ "$pkg" "$conf" "$unit"
		check "$pkg.service is not enabled" test ! -e "/etc/systemd/system/multi-user.target.wants/$pkg.service"
	fi
	check "$conf is a conffile of $pkg" grep -qx " *$conf [0-9a-f]*" \
		<<<"$(dpkg-query -W -f='${Conffiles}\n' "$pkg")"
	check "system user $pkg exists" bash -c "getent passwd $pkg >/dev/null"
	check "$conf is root:$pkg 0640 ($(stat -c '%U:%G %a' "$conf"))" \
		test "$(stat -c '%U:%G %a' "$conf")" = "root:$pkg 640"
	check "$tlsdir is root:$pkg 0750 ($(stat -c '%U:%G %a' "$tlsdir"))" \
		test "$(stat -c '%U:%G %a' "$tlsdir")" = "root:$pkg 750"
}
daemon_checks molt-lms /etc/molt-lms/config.json /etc/molt-lms/tls
daemon_checks molt-lms-orchestrator /etc/molt-lms/orchestrator.json /etc/molt-lms/orchestrator-tls
check "orchestrator.json is a template: CRDB_URL, LMS_URL, sourceDialect" python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))
assert c["CRDB_URL"].startswith("postgresql://") and c["LMS_URL"].startswith("postgresql://"), c
assert c["sourceDialect"] == "postgres", c' /etc/molt-lms/orchestrator.json

out=$(/usr/bin/molt-lms --version 2>&1)
check "installed --version: $out" grep -qE "^molt-lms ${version%-*} \(plugin ABI [0-9]+\.[0-9]+\)$" <<<"$out"
check "installed --help names the default plugin dir $PLUGINDIR" \
	grep -qF "(default $PLUGINDIR)" <<<"$(/usr/bin/molt-lms --help)"
out=$(/usr/bin/molt-lms-orchestrator --version 2>&1)
check "installed orchestrator --version: $out" test "$out" = "molt-lms-orchestrator ${version%-*}"
out=$(/usr/bin/molt-lms-orchestrator --help 2>&1)
check "installed orchestrator --help lists --config and --crdb-url" \
	bash -c 'grep -q -- "--config" <<<"$1" && grep -q -- "--crdb-url" <<<"$1"' _ "$out"
out=$(/usr/bin/molt-lms-cli --version 2>&1)
check "installed molt-lms-cli --version: $out" grep -qE "^molt-lms-cli ${version%-*}\b" <<<"$out"
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
	# --coordination off: the cutover state needs a postgresql:// target.
	out=$(cd "$tmp" && timeout 20 /usr/bin/molt-lms --plugin-dir "$skel" --source-dialect skeleton \
		--target-dialect skeleton --allow-tls-mode-disable --init-source tcp://127.0.0.1:1 \
		--init-target tcp://127.0.0.1:1 --coordination off --check-config 2>&1)
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

# The installed orchestrator, as its own user, with a throwaway database on the
# target cluster as its store (CRDB_URL) and the running proxy as LMS_URL, in
# a config file as the unit's /etc/molt-lms/orchestrator.json would hold them.
admin_psql() { PGPASSWORD=lms-admin-pw PGSSLMODE=disable PGCONNECT_TIMEOUT=10 timeout 30 \
	psql -X -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$TPORT" -U lms_admin -d postgres "$@"; }
storedb=lms_deb_orch_$$
oport=$(free_port) omport=$(free_port)
ORCH=http://127.0.0.1:$oport
check "throwaway store database $storedb created" admin_psql -q -c "create database $storedb"
oconf=$tmp/orchestrator.json
cat >"$oconf" <<EOF
{
  "CRDB_URL": "postgresql://lms_admin:lms-admin-pw@127.0.0.1:$TPORT/$storedb?sslmode=disable",
  "LMS_URL": "postgresql://app:app-pw@127.0.0.1:$port/appdb?sslmode=disable",
  "sourceDialect": "postgres"
}
EOF
chmod 0644 "$oconf"
orunas=()
[[ $(id -u) -eq 0 ]] && orunas=(setpriv --reuid=molt-lms-orchestrator --regid=molt-lms-orchestrator --init-groups --)
(cd / && exec "${orunas[@]}" /usr/bin/molt-lms-orchestrator --config "$oconf" --allow-tls-mode-disable \
	--listen "127.0.0.1:$oport" --metrics-listen "127.0.0.1:$omport") >"$tmp/orchestrator.log" 2>&1 &
orch_pid=$!
for _ in $(seq 100); do
	grep -q 'event=started' "$tmp/orchestrator.log" && break
	kill -0 "$orch_pid" 2>/dev/null || break
	sleep 0.1
done
check "installed molt-lms-orchestrator started on 127.0.0.1:$oport" grep -q 'event=started' "$tmp/orchestrator.log"
out=$(timeout 30 /usr/bin/molt-lms-cli --orchestrator-url "$ORCH" initialize 2>&1)
check "installed molt-lms-cli initialize: $(head -1 <<<"$out")" grep -q '^created: _molt_lms\.state' <<<"$out"
out=$(timeout 30 /usr/bin/molt-lms-cli --orchestrator-url "$ORCH" status -o json 2>&1)
echo "# status: $out"
check "installed molt-lms-cli status -o json: epoch 1, serving, source, postgres" python3 -c '
import json, sys
s = json.loads(sys.argv[1])
assert (s["epoch"], s["phase"], s["source_of_truth"], s["source_dialect"]) == (1, "serving", "source", "postgres"), s' "$out"
check "status: the select 1 probe through the installed proxy (LMS_URL) succeeded" python3 -c '
import json, sys
assert json.loads(sys.argv[1])["lms_probe"]["ok"] is True' "$out"
kill -TERM "$orch_pid" 2>/dev/null
wait "$orch_pid"
rc=$?
orch_pid=""
check "SIGTERM: molt-lms-orchestrator exits with status 0 (got $rc)" test "$rc" -eq 0
check "throwaway store database $storedb dropped" admin_psql -q -c "drop database $storedb"
[[ $fail -eq 0 ]] || { echo "# orchestrator log:"; sed 's/^/#   /' "$tmp/orchestrator.log"; }
kill -TERM "$proxy_pid" 2>/dev/null
wait "$proxy_pid"
rc=$?
proxy_pid=""
check "SIGTERM: molt-lms exits with status 0 (got $rc)" test "$rc" -eq 0
[[ $fail -eq 0 ]] || { echo "# proxy log:"; sed 's/^/#   /' "$tmp/proxy.log"; }
# ---- 4b. the installed proxy with its installed mysql.so, before a MariaDB
if my start >"$tmp/my.log" 2>&1; then
	my_started=1
	ok "test MariaDB started (127.0.0.1:$MPORT)"
	port=$(free_port) mport=$(free_port)
	(cd / && exec env INIT_SOURCE="mysql://lms_admin:lms-admin-pw@127.0.0.1:$MPORT/appdb?ssl-mode=DISABLED" \
		INIT_TARGET="postgresql://lms_admin:lms-admin-pw@127.0.0.1:$TPORT/appdb?sslmode=disable" \
		"${runas[@]}" /usr/bin/molt-lms --source-dialect mysql --allow-tls-mode-disable --coordination off \
		--listen "127.0.0.1:$port" --metrics-listen "127.0.0.1:$mport" --workers 1) \
		>"$tmp/proxy-mysql.log" 2>&1 &
	proxy_pid=$!
	for _ in $(seq 100); do
		grep -q 'event=listening' "$tmp/proxy-mysql.log" && break
		kill -0 "$proxy_pid" 2>/dev/null || break
		sleep 0.1
	done
	check "installed molt-lms found its installed mysql.so" \
		grep -q "event=plugin_loaded dialect=mysql .*path=$PLUGINDIR/mysql.so" "$tmp/proxy-mysql.log"
	out=$(timeout 30 mariadb --skip-ssl -h 127.0.0.1 -P "$port" -u app -papp-pw -N -B appdb \
		-e 'select 40 + 2' 2>&1)
	check "mariadb -e 'select 40 + 2' through the installed proxy as app (got: $out)" test "$out" = 42
	kill -TERM "$proxy_pid" 2>/dev/null
	wait "$proxy_pid"
	rc=$?
	proxy_pid=""
	check "SIGTERM: molt-lms (mysql) exits with status 0 (got $rc)" test "$rc" -eq 0
	[[ $fail -eq 0 ]] || { echo "# proxy log:"; sed 's/^/#   /' "$tmp/proxy-mysql.log"; }
	my clean >/dev/null 2>&1
	my_started=0
else
	tail -20 "$tmp/my.log"; nok "tests/mysql-cluster.sh start (log above)"
fi
pg clean >/dev/null 2>&1
pg_started=0

# ---- 5. remove
if $SUDO dpkg -r "${installed[@]}" >"$tmp/remove.log" 2>&1; then
	ok "dpkg -r ${installed[*]}"
	installed=()
else
	cat "$tmp/remove.log"; nok "dpkg -r (log above)"
fi
for f in /usr/bin/molt-lms /usr/bin/molt-lms-orchestrator /usr/bin/molt-lms-cli; do
	check "$f is gone" test ! -e "$f"
done
check "$PLUGINDIR is gone" test ! -e "$PLUGINDIR"
echo "# total $(elapsed)"
finish
