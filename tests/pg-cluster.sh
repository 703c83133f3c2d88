#!/usr/bin/env bash
# pg-cluster.sh - throwaway PostgreSQL "source" and "target" clusters for LMS tests.
#
# See --help. Both clusters listen on 127.0.0.1 only, have SSL on with a
# certificate from tests/certs/gen-certs.sh, and carry the roles/databases the
# test suite expects (lms_admin, app, app_md5, app_clear; appdb, bench).

set -euo pipefail

PROG=${0##*/}
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
GEN_CERTS=$SCRIPT_DIR/certs/gen-certs.sh
CLUSTERS=(source target)
MARKER=.lms-test-cluster
# Bump when the provisioning SQL or the generated configuration changes.
PROVISION_VERSION=1

usage() {
    cat <<EOF
Usage: $PROG start|stop|status|env|clean [--dir DIR]

Manage two throwaway PostgreSQL clusters ("source" and "target") on 127.0.0.1.

Commands:
  start    create (initdb) if needed, start both clusters, create roles/databases.
           Idempotent: clusters already running are left alone.
  stop     stop both clusters (pg_ctl stop -m fast); data is kept.
  status   print the state of both clusters; exit 0 only if both accept connections.
  env      print shell 'export' lines (LMS_TEST_DIR, LMS_TEST_CERTS,
           LMS_TEST_SOURCE_PORT, LMS_TEST_TARGET_PORT, PGBIN).
  clean    stop both clusters and remove DIR.

Options:
  --dir DIR    base directory (default: \$LMS_TEST_DIR or /tmp/lms-test)
  -h, --help   show this help and exit

Environment:
  LMS_TEST_DIR            default for --dir
  LMS_TEST_SOURCE_PORT    source port (default 15432)
  LMS_TEST_TARGET_PORT    target port (default 15433)
  PGBIN                   PostgreSQL binaries (default /usr/lib/postgresql/15/bin)
  LMS_TEST_OS_USER        OS account that runs the servers when invoked as root
                          (default postgres)

Layout: DIR/certs (test CA and certificates), DIR/<name>/data, DIR/<name>/sock
(unix socket), DIR/<name>/log/postgresql.log.

Roles on both clusters: lms_admin/lms-admin-pw (superuser, SCRAM), app/app-pw
(SCRAM, owns appdb), app_md5/md5-pw (md5), app_clear/clear-pw (hba 'password').
Databases: appdb (owner app), bench (owner lms_admin). The OS-level superuser
"postgres" has no password and can log in over the unix socket (trust).
EOF
}

# die, info, parse_cluster_args
. "$SCRIPT_DIR/lib-cluster.sh"

# Keep libpq/PG* settings from the caller's environment out of our own
# psql/pg_ctl invocations (PGBIN is ours and is kept).
while IFS= read -r var; do
    case "$var" in
        PGBIN) ;;
        PG*) unset "$var" ;;
    esac
done < <(compgen -e)

parse_cluster_args "$@"

# ---------------------------------------------------------------------------
# PostgreSQL binaries and the account that runs them

if [[ -z "${PGBIN:-}" ]]; then
    if [[ -x /usr/lib/postgresql/15/bin/pg_ctl ]]; then
        PGBIN=/usr/lib/postgresql/15/bin
    elif command -v pg_config >/dev/null 2>&1 && [[ -x "$(pg_config --bindir)/pg_ctl" ]]; then
        PGBIN=$(pg_config --bindir)
    elif command -v pg_ctl >/dev/null 2>&1; then
        PGBIN=$(dirname "$(command -v pg_ctl)")
    else
        PGBIN=/usr/lib/postgresql/15/bin
    fi
fi
PGBIN=${PGBIN%/}

is_root=0
[[ $(id -u) -eq 0 ]] && is_root=1
os_user=${LMS_TEST_OS_USER:-postgres}

source_port=${LMS_TEST_SOURCE_PORT:-15432}
target_port=${LMS_TEST_TARGET_PORT:-15433}

need_bins() {
    local b
    for b in initdb pg_ctl pg_isready psql; do
        [[ -x "$PGBIN/$b" ]] || die "$PGBIN/$b not found (set PGBIN)"
    done
}

# as_pg CMD...: run a command as the account owning the clusters. PostgreSQL
# refuses to run as root, so root switches to $os_user. The working directory
# is moved to DIR so the server account never trips over an unreadable cwd.
as_pg() {
    if [[ $is_root -eq 1 ]]; then
        (cd "$dir" && runuser -u "$os_user" -- "$@")
    else
        (cd "$dir" && "$@")
    fi
}

# port_of NAME: the port a cluster uses. Once a cluster has been configured,
# the recorded port wins (it is what the server actually listens on).
port_of() {
    local f=$dir/$1/port
    if [[ -s "$f" ]]; then
        cat "$f"
    elif [[ "$1" == source ]]; then
        printf '%s\n' "$source_port"
    else
        printf '%s\n' "$target_port"
    fi
}

wanted_port() {
    if [[ "$1" == source ]]; then printf '%s\n' "$source_port"; else printf '%s\n' "$target_port"; fi
}

sockdir() { printf '%s\n' "$dir/$1/sock"; }
datadir() { printf '%s\n' "$dir/$1/data"; }
logfile() { printf '%s\n' "$dir/$1/log/postgresql.log"; }

# pm_pid NAME: the PID recorded in postmaster.pid (empty if none).
pm_pid() {
    local f
    f=$(datadir "$1")/postmaster.pid
    [[ -r "$f" ]] || return 0
    head -n 1 "$f" 2>/dev/null || true
}

# pm_zombie NAME: the recorded postmaster has died but was not reaped yet
# (happens in containers whose PID 1 reaps orphans lazily).
pm_zombie() {
    local pid st
    pid=$(pm_pid "$1")
    [[ "$pid" =~ ^[0-9]+$ && -r /proc/$pid/stat ]] || return 1
    st=$(sed -E 's/^.*\) (.).*$/\1/' "/proc/$pid/stat" 2>/dev/null) || return 1
    [[ "$st" == Z ]]
}

# is_running NAME: a postmaster for this data directory is alive.
is_running() {
    local data
    data=$(datadir "$1")
    [[ -f "$data/PG_VERSION" && -f "$data/postmaster.pid" ]] || return 1
    pm_zombie "$1" && return 1
    as_pg "$PGBIN/pg_ctl" -D "$data" status >/dev/null 2>&1
}

is_ready() {
    "$PGBIN/pg_isready" -q -h "$(sockdir "$1")" -p "$(port_of "$1")" -U postgres -d postgres >/dev/null 2>&1
}

# wait_ready NAME SECONDS: 0 when ready, 1 on timeout, 2 if the server died.
wait_ready() {
    local name=$1 deadline=$((SECONDS + $2)) n=0
    until is_ready "$name"; do
        if ((SECONDS >= deadline)); then
            return 1
        fi
        n=$((n + 1))
        if ((n % 5 == 0)) && ! is_running "$name"; then
            return 2
        fi
        sleep 0.1
    done
}

# wait_reaped NAME SECONDS: wait until a dead postmaster's zombie is gone.
wait_reaped() {
    local deadline=$((SECONDS + $2))
    while pm_zombie "$1"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

show_log() {
    local lf
    lf=$(logfile "$1")
    if [[ -f "$lf" ]]; then
        info "last lines of $lf:"
        tail -n 20 "$lf" >&2 || true
    fi
}

# ---------------------------------------------------------------------------
# start

prepare_dir() {
    if [[ ! -d "$dir" ]]; then
        mkdir -p "$dir"
        chmod 0755 "$dir"
    fi
    [[ -e "$dir/$MARKER" ]] || : >"$dir/$MARKER"
    if [[ $is_root -eq 1 ]]; then
        id -u "$os_user" >/dev/null 2>&1 || die "OS user '$os_user' does not exist (set LMS_TEST_OS_USER)"
        chown "$os_user:" "$dir" "$dir/$MARKER"
        # The server account must be able to reach DIR.
        runuser -u "$os_user" -- test -x "$dir" ||
            die "$dir is not reachable by user $os_user (choose a --dir under /tmp)"
    fi
    local owner_args=()
    [[ $is_root -eq 1 ]] && owner_args=(--owner "$os_user")
    "$GEN_CERTS" "${owner_args[@]}" "$dir/certs" >/dev/null
}

write_config() {
    local name=$1 port data sock logd
    port=$(wanted_port "$name")
    data=$(datadir "$name")
    sock=$(sockdir "$name")
    logd=$dir/$name/log
    cat >"$data/lms-test.conf" <<EOF
# Generated by tests/pg-cluster.sh; rewritten on every start.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sock'
max_connections = 1300
shared_buffers = 128MB
password_encryption = 'scram-sha-256'
ssl = on
ssl_cert_file = '$dir/certs/server.crt'
ssl_key_file = '$dir/certs/server.key'
ssl_ca_file = '$dir/certs/ca.crt'
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = logical   # the cutover tests replicate source -> target
logging_collector = off
log_destination = 'stderr'
log_connections = on
log_line_prefix = '%m [%p] %q%u@%d '
log_timezone = 'UTC'
timezone = 'UTC'
# server log: $logd/postgresql.log (written via pg_ctl -l)
EOF
    cat >"$data/pg_hba.conf" <<'EOF'
# Generated by tests/pg-cluster.sh; rewritten on every start.
# TYPE  DATABASE     USER       ADDRESS        METHOD
local   all          all                       trust
local   replication  all                       trust
host    all          app_md5    127.0.0.1/32   md5
host    all          app_md5    ::1/128        md5
host    all          app_clear  127.0.0.1/32   password
host    all          app_clear  ::1/128        password
host    all          all        127.0.0.1/32   scram-sha-256
host    all          all        ::1/128        scram-sha-256
host    replication  all        127.0.0.1/32   scram-sha-256
host    replication  all        ::1/128        scram-sha-256
EOF
    printf '%s\n' "$port" >"$dir/$name/port"
    if [[ $is_root -eq 1 ]]; then
        chown "$os_user:" "$data/lms-test.conf" "$data/pg_hba.conf" "$dir/$name/port"
    fi
    chmod 0600 "$data/lms-test.conf" "$data/pg_hba.conf"
}

# start_one NAME: initdb (if needed) and start one cluster. Runs in a subshell
# so that both clusters can come up in parallel.
start_one() {
    local name=$1 data sock logd lf port
    data=$(datadir "$name")
    sock=$(sockdir "$name")
    logd=$dir/$name/log
    lf=$(logfile "$name")
    port=$(wanted_port "$name")

    if is_running "$name"; then
        local have
        have=$(port_of "$name")
        if [[ "$have" != "$port" ]]; then
            die "$name is already running on port $have, not $port (stop it first)"
        fi
        local st=0
        wait_ready "$name" 30 || st=$?
        case $st in
            0) return 0 ;;
            1) show_log "$name"; die "$name is running but not accepting connections" ;;
            *) info "$name stopped while waiting for it; starting it again" ;;
        esac
    fi
    wait_reaped "$name" 15 || die "the old postmaster of $name (PID $(pm_pid "$name")) is not reaped"

    if [[ ! -f "$data/PG_VERSION" ]]; then
        # No (complete) cluster yet: start over from scratch.
        rm -rf "${dir:?}/$name"
        mkdir -p "$data" "$sock" "$logd"
        chmod 0700 "$data"
        [[ $is_root -eq 1 ]] && chown -R "$os_user:" "$dir/$name"
        local initlog=$dir/$name/initdb.log
        if ! as_pg "$PGBIN/initdb" -D "$data" -U postgres --auth-local=trust \
                --auth-host=scram-sha-256 --encoding=UTF8 --locale=C \
                --no-sync --no-instructions >"$initlog" 2>&1; then
            cat "$initlog" >&2
            die "initdb failed for $name"
        fi
        printf "include_if_exists = 'lms-test.conf'\n" >>"$data/postgresql.conf"
        rm -f "$dir/$name/provisioned"
    fi
    mkdir -p "$sock" "$logd"
    [[ $is_root -eq 1 ]] && chown "$os_user:" "$sock" "$logd"
    write_config "$name"

    local sockpath="$sock/.s.PGSQL.$port"
    ((${#sockpath} < 108)) || die "unix socket path too long (${#sockpath} chars): $sockpath"

    if ! as_pg "$PGBIN/pg_ctl" -D "$data" -l "$lf" -w -t 60 start >/dev/null 2>&1; then
        show_log "$name"
        die "could not start $name (port $port)"
    fi
    wait_ready "$name" 30 || { show_log "$name"; die "$name did not become ready"; }
}

provision_sql() {
    cat <<'EOF'
\set ON_ERROR_STOP on
SET client_min_messages = warning;
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lms_admin') THEN
        CREATE ROLE lms_admin;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app') THEN
        CREATE ROLE app;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app_md5') THEN
        CREATE ROLE app_md5;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app_clear') THEN
        CREATE ROLE app_clear;
    END IF;
END
$$;
SET password_encryption = 'scram-sha-256';
ALTER ROLE lms_admin WITH SUPERUSER CREATEDB CREATEROLE REPLICATION BYPASSRLS LOGIN PASSWORD 'lms-admin-pw';
ALTER ROLE app WITH LOGIN PASSWORD 'app-pw';
ALTER ROLE app_clear WITH LOGIN PASSWORD 'clear-pw';
SET password_encryption = 'md5';
ALTER ROLE app_md5 WITH LOGIN PASSWORD 'md5-pw';
RESET password_encryption;
SELECT 'CREATE DATABASE appdb OWNER app'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'appdb')\gexec
SELECT 'CREATE DATABASE bench OWNER lms_admin'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'bench')\gexec
\connect appdb
SET client_min_messages = warning;
GRANT USAGE, CREATE ON SCHEMA public TO app_md5, app_clear;
EOF
}

provision_one() {
    local name=$1 want have=""
    want="v$PROVISION_VERSION $(provision_sql | cksum)"
    [[ -f "$dir/$name/provisioned" ]] && have=$(<"$dir/$name/provisioned")
    [[ "$have" == "$want" ]] && return 0
    local out
    if ! out=$(provision_sql | "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 \
            -h "$(sockdir "$name")" -p "$(port_of "$name")" -U postgres -d postgres 2>&1); then
        printf '%s\n' "$out" >&2
        die "provisioning roles/databases on $name failed"
    fi
    printf '%s\n' "$want" >"$dir/$name/provisioned"
    [[ $is_root -eq 1 ]] && chown "$os_user:" "$dir/$name/provisioned"
    return 0
}

cmd_start() {
    need_bins
    [[ "$source_port" != "$target_port" ]] || die "source and target ports must differ"
    prepare_dir
    local name pids=() rc=0 i
    for name in "${CLUSTERS[@]}"; do
        start_one "$name" &
        pids+=($!)
    done
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}" || rc=1
    done
    [[ $rc -eq 0 ]] || die "start failed"
    for name in "${CLUSTERS[@]}"; do
        provision_one "$name"
    done
    info "source 127.0.0.1:$(port_of source), target 127.0.0.1:$(port_of target) ready (dir $dir)"
}

# ---------------------------------------------------------------------------
# stop / status / env / clean

cmd_stop() {
    need_bins
    local name data rc=0
    [[ -d "$dir" ]] || return 0
    for name in "${CLUSTERS[@]}"; do
        data=$(datadir "$name")
        is_running "$name" || continue
        if ! as_pg "$PGBIN/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null 2>&1; then
            info "fast shutdown of $name failed; trying immediate"
            as_pg "$PGBIN/pg_ctl" -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1 || {
                info "could not stop $name"
                rc=1
            }
        fi
    done
    return "$rc"
}

cmd_status() {
    need_bins
    local name rc=0 port
    for name in "${CLUSTERS[@]}"; do
        port=$(port_of "$name")
        if is_ready "$name"; then
            printf '%s: up (127.0.0.1:%s, socket %s)\n' "$name" "$port" "$(sockdir "$name")"
        elif is_running "$name"; then
            printf '%s: running but not ready (port %s)\n' "$name" "$port"
            rc=1
        else
            printf '%s: down\n' "$name"
            rc=1
        fi
    done
    return "$rc"
}

cmd_env() {
    printf 'export LMS_TEST_DIR=%q\n' "$dir"
    printf 'export LMS_TEST_CERTS=%q\n' "$dir/certs"
    printf 'export LMS_TEST_SOURCE_PORT=%q\n' "$(port_of source)"
    printf 'export LMS_TEST_TARGET_PORT=%q\n' "$(port_of target)"
    printf 'export PGBIN=%q\n' "$PGBIN"
}

cmd_clean() {
    [[ -e "$dir" ]] || return 0
    [[ -e "$dir/$MARKER" ]] || die "$dir was not created by $PROG (no $MARKER); not removing it"
    cmd_stop || die "could not stop the clusters; not removing $dir"
    rm -rf "${dir:?}"
}

case "$cmd" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) cmd_env ;;
    clean) cmd_clean ;;
    *) die "unknown command: $cmd (see --help)" ;;
esac
