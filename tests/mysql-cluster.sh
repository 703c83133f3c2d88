#!/usr/bin/env bash
# mysql-cluster.sh - a throwaway MariaDB server for the LMS MySQL tests.
#
# See --help. The server listens on 127.0.0.1 only, has TLS on with a
# certificate from tests/certs/gen-certs.sh, and carries the users and the
# database the MySQL tests expect.

set -euo pipefail

PROG=${0##*/}
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
GEN_CERTS=$SCRIPT_DIR/certs/gen-certs.sh

usage() {
    cat <<EOF
Usage: $PROG start|stop|status|env|clean [--dir DIR]

Manage one throwaway MariaDB server on 127.0.0.1 (data in DIR/mariadb).

Commands:
  start    initialize (mariadb-install-db) if needed, start the server,
           create users and the database. Idempotent.
  stop     stop the server (SIGTERM, waits for it); data is kept.
  status   exit 0 only if the server answers on its unix socket.
  env      print shell 'export' lines (LMS_TEST_DIR, LMS_TEST_MYSQL_PORT,
           LMS_TEST_MYSQL_SOCKET).
  clean    stop the server and remove DIR/mariadb.

Options:
  --dir DIR    base directory (default: \$LMS_TEST_DIR or /tmp/lms-test)
  -h, --help   show this help and exit

Environment:
  LMS_TEST_DIR          default for --dir
  LMS_TEST_MYSQL_PORT   TCP port (default 13306; below 32768)
  LMS_TEST_OS_USER_MYSQL  OS account that runs mariadbd when invoked as root
                        (default mysql)

Users (each for both 'localhost' and '127.0.0.1', since MariaDB resolves a
TCP login from 127.0.0.1 to localhost only when skip-name-resolve is off):
  lms_admin/lms-admin-pw  all privileges (mysql_native_password)
  app/app-pw              all on appdb (mysql_native_password)
  app_ed/ed-pw            all on appdb (ed25519: logs in through an auth switch)
  app_tls/tls-pw          all on appdb, REQUIRE SSL
Database: appdb. TLS: DIR/certs/server.crt, signed by DIR/certs/ca.crt.
EOF
}

# die, info, parse_cluster_args
. "$SCRIPT_DIR/lib-cluster.sh"

parse_cluster_args "$@"

port=${LMS_TEST_MYSQL_PORT:-13306}
[[ "$port" =~ ^[0-9]+$ && "$port" -gt 0 && "$port" -lt 32768 ]] ||
    die "LMS_TEST_MYSQL_PORT must be a port below 32768, got '$port'"
base=$dir/mariadb
data=$base/data
sock=$base/mysqld.sock
pidfile=$base/mysqld.pid
log=$base/mysqld.log
is_root=0
[[ $(id -u) -eq 0 ]] && is_root=1
os_user=${LMS_TEST_OS_USER_MYSQL:-mysql}

# The recorded port wins once the server was configured.
if [[ -s "$base/port" ]]; then
    port=$(cat "$base/port")
fi

need_bins() {
    local b
    for b in mariadbd mariadb-install-db mariadb mariadb-admin; do
        command -v "$b" >/dev/null 2>&1 || [[ -x /usr/sbin/$b ]] ||
            die "$b not found (Debian: apt-get install mariadb-server mariadb-client)"
    done
}

mysqld_bin() {
    if command -v mariadbd >/dev/null 2>&1; then command -v mariadbd; else echo /usr/sbin/mariadbd; fi
}

# as_my CMD...: run a command as the account owning the data directory.
as_my() {
    if [[ $is_root -eq 1 ]]; then
        (cd "$base" && runuser -u "$os_user" -- "$@")
    else
        (cd "$base" && "$@")
    fi
}

# sql STATEMENTS: run as root@localhost over the unix socket.
sql() {
    mariadb --no-defaults --protocol=socket -S "$sock" -u root -e "$1"
}

alive() {
    [[ -S "$sock" ]] && mariadb-admin --no-defaults --protocol=socket -S "$sock" -u root \
        --connect-timeout=2 ping >/dev/null 2>&1
}

write_config() {
    cat >"$base/my.cnf" <<EOF
[mariadbd]
datadir=$data
socket=$sock
pid-file=$pidfile
port=$port
bind-address=127.0.0.1
log-error=$log
skip-name-resolve=0
ssl-cert=$base/server.crt
ssl-key=$base/server.key
ssl-ca=$base/ca.crt
max_allowed_packet=64M
innodb_buffer_pool_size=32M
innodb_log_file_size=16M
performance_schema=OFF
plugin-load-add=auth_ed25519
EOF
}

init() {
    need_bins
    mkdir -p "$base"
    local owner_args=()
    [[ $is_root -eq 1 ]] && owner_args=(--owner "$os_user")
    if [[ ! -f "$dir/certs/ca.crt" ]]; then
        mkdir -p "$dir/certs"
        "$GEN_CERTS" "${owner_args[@]}" "$dir/certs" >/dev/null
    fi
    # The server's own copy: readable by its account, whoever owns certs/.
    install -m 0644 "$dir/certs/server.crt" "$base/server.crt"
    install -m 0600 "$dir/certs/server.key" "$base/server.key"
    install -m 0644 "$dir/certs/ca.crt" "$base/ca.crt"
    printf '%s\n' "$port" >"$base/port"
    write_config
    if [[ $is_root -eq 1 ]]; then
        chown -R "$os_user:" "$base"
        chmod 0755 "$dir"
    fi
    if [[ ! -d "$data/mysql" ]]; then
        info "initializing $data"
        as_my mariadb-install-db --no-defaults --datadir="$data" --auth-root-authentication-method=socket \
            --skip-test-db >"$base/install.log" 2>&1 || { cat "$base/install.log" >&2; die "mariadb-install-db failed"; }
    fi
}

provision() {
    local u h
    local stmts="CREATE DATABASE IF NOT EXISTS appdb;"
    for h in localhost 127.0.0.1; do
        stmts+="
CREATE USER IF NOT EXISTS 'lms_admin'@'$h' IDENTIFIED VIA mysql_native_password USING PASSWORD('lms-admin-pw');
GRANT ALL ON *.* TO 'lms_admin'@'$h' WITH GRANT OPTION;
CREATE USER IF NOT EXISTS 'app'@'$h' IDENTIFIED VIA mysql_native_password USING PASSWORD('app-pw');
GRANT ALL ON appdb.* TO 'app'@'$h';
GRANT FILE ON *.* TO 'app'@'$h';
CREATE USER IF NOT EXISTS 'app_ed'@'$h' IDENTIFIED VIA ed25519 USING PASSWORD('ed-pw');
GRANT ALL ON appdb.* TO 'app_ed'@'$h';
CREATE USER IF NOT EXISTS 'app_tls'@'$h' IDENTIFIED VIA mysql_native_password USING PASSWORD('tls-pw') REQUIRE SSL;
GRANT ALL ON appdb.* TO 'app_tls'@'$h';"
    done
    sql "$stmts FLUSH PRIVILEGES;" || die "provisioning failed"
    u=$(sql "SELECT COUNT(*) FROM mysql.user WHERE user IN ('app','app_ed','app_tls','lms_admin')" | tail -1)
    [[ "$u" == 8 ]] || die "expected 8 test users, found $u"
}

start() {
    if alive; then
        info "MariaDB already running on 127.0.0.1:$port"
        return 0
    fi
    init
    rm -f "$sock" "$pidfile"
    info "starting MariaDB on 127.0.0.1:$port ($base)"
    local user_args=()
    [[ $is_root -eq 1 ]] && user_args=(--user="$os_user")
    # setsid: the server outlives this script and its caller's terminal.
    setsid "$(mysqld_bin)" --defaults-file="$base/my.cnf" "${user_args[@]}" \
        </dev/null >>"$base/stdout.log" 2>&1 &
    local i
    for ((i = 0; i < 300; i++)); do
        alive && break
        sleep 0.1
    done
    alive || { tail -n 30 "$log" >&2 || true; die "MariaDB did not become ready within 30 s"; }
    provision
    info "MariaDB ready on 127.0.0.1:$port"
}

stop() {
    if [[ ! -s "$pidfile" ]]; then
        info "MariaDB not running"
        return 0
    fi
    local pid
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        local i
        for ((i = 0; i < 300; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && die "MariaDB (pid $pid) did not stop within 30 s"
    fi
    rm -f "$pidfile"
    info "MariaDB stopped"
}

case "$cmd" in
    start) start ;;
    stop) stop ;;
    status)
        if alive; then
            echo "MariaDB: running on 127.0.0.1:$port"
        else
            echo "MariaDB: not running"
            exit 1
        fi
        ;;
    env)
        printf 'export LMS_TEST_DIR=%q\n' "$dir"
        printf 'export LMS_TEST_MYSQL_PORT=%q\n' "$port"
        printf 'export LMS_TEST_MYSQL_SOCKET=%q\n' "$sock"
        ;;
    clean)
        stop
        rm -rf "$base"
        ;;
    *) die "unknown command: $cmd (see --help)" ;;
esac
