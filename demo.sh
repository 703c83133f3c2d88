#!/usr/bin/env bash
# The LMS demo: start a local source and target PostgreSQL, start molt-lms
# in front of them with TLS and shadowMode sync, run an application
# workload through it, show that both databases got it and that a
# difference on the target is caught, and print what happened.  Run from a built tree (./configure && make).
# Usage: ./demo.sh [--keep]   --keep leaves the databases running afterwards
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
BUILD=${LMS_BUILDDIR:-$ROOT}
KEEP=0
case "${1:-}" in
--help | -h) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
--keep) KEEP=1 ;;
esac

export LMS_TEST_DIR=${LMS_TEST_DIR:-/tmp/lms-demo}
export LMS_TEST_SOURCE_PORT=${LMS_TEST_SOURCE_PORT:-15632}
export LMS_TEST_TARGET_PORT=${LMS_TEST_TARGET_PORT:-15633}
SRC=$LMS_TEST_SOURCE_PORT
TGT=$LMS_TEST_TARGET_PORT
PGBIN=/usr/lib/postgresql/15/bin
PORT=19543
MPORT=19544

if [[ ! -x "$BUILD/molt-lms" ]]; then
	echo "demo: $BUILD/molt-lms is not built: run ./autogen.sh && ./configure && make first" >&2
	exit 1
fi

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "starting a source (127.0.0.1:$SRC) and a target (127.0.0.1:$TGT) PostgreSQL 15"
tests/pg-cluster.sh start
CERTS=$LMS_TEST_DIR/certs

cat >"$LMS_TEST_DIR/demo-config.json" <<JSON
{
  "INIT_SOURCE": "postgresql://lms_admin:lms-admin-pw@localhost:$SRC/appdb?sslmode=verify-full&sslrootcert=$CERTS/ca.crt",
  "INIT_TARGET": "postgresql://lms_admin:lms-admin-pw@localhost:$TGT/appdb?sslmode=verify-full&sslrootcert=$CERTS/ca.crt",
  "sourceDialect": "postgres",
  "shadowMode": "sync",
  "mismatchLog": "$LMS_TEST_DIR/demo-mismatches.jsonl"
}
JSON

say "checking the configuration (molt-lms --check-config)"
"$BUILD/molt-lms" --config "$LMS_TEST_DIR/demo-config.json" --plugin-dir "$BUILD/plugins/.libs" \
	--ssl-cert "$CERTS/proxy.crt" --ssl-key "$CERTS/proxy.key" --check-config

rm -f "$LMS_TEST_DIR/demo-mismatches.jsonl"
say "starting molt-lms on 127.0.0.1:$PORT (TLS on, shadowMode sync), metrics on https://127.0.0.1:$MPORT"
"$BUILD/molt-lms" --config "$LMS_TEST_DIR/demo-config.json" --plugin-dir "$BUILD/plugins/.libs" \
	--ssl-cert "$CERTS/proxy.crt" --ssl-key "$CERTS/proxy.key" \
	--listen "127.0.0.1:$PORT" --metrics-listen "127.0.0.1:$MPORT" --log-level warn \
	2>"$LMS_TEST_DIR/demo-molt-lms.log" &
LMS_PID=$!
cleanup() {
	kill -TERM "$LMS_PID" 2>/dev/null && wait "$LMS_PID" 2>/dev/null || true
	if [[ $KEEP -eq 0 ]]; then tests/pg-cluster.sh stop >/dev/null || true; fi
}
trap cleanup EXIT
for _ in $(seq 1 100); do
	curl -sfk "https://127.0.0.1:$MPORT/readyz" >/dev/null && break
	sleep 0.1
done

# The application logs in with its own user and password, through TLS.
# channel_binding=disable: see "SCRAM relay" in docs/molt-lms.1.
APP="host=localhost port=$PORT user=app dbname=appdb sslmode=verify-full sslrootcert=$CERTS/ca.crt channel_binding=disable"
export PGPASSWORD=app-pw

say "the application creates a table, writes in a transaction, and reads it back"
"$PGBIN/psql" "$APP" -v ON_ERROR_STOP=1 <<'SQL'
DROP TABLE IF EXISTS demo_orders;
CREATE TABLE demo_orders (id serial PRIMARY KEY, item text NOT NULL, qty int NOT NULL);
BEGIN;
INSERT INTO demo_orders (item, qty) SELECT 'item-' || g, g % 7 + 1 FROM generate_series(1, 1000) g;
COMMIT;
SELECT count(*) AS orders, sum(qty) AS units FROM demo_orders;
SELECT inet_server_port() AS served_by_port, ssl AS tls_between_proxy_and_db
  FROM pg_stat_ssl WHERE pid = pg_backend_pid();
SQL

say "pgbench -i and a 5-second pgbench run through the proxy (8 clients, prepared statements)"
export PGPASSWORD=lms-admin-pw PGSSLMODE=verify-full PGSSLROOTCERT=$CERTS/ca.crt PGCHANNELBINDING=disable
"$PGBIN/pgbench" -h localhost -p "$PORT" -U lms_admin -i -s 1 -q bench >/dev/null 2>&1
"$PGBIN/pgbench" -h localhost -p "$PORT" -U lms_admin -c 8 -j 2 -T 5 -M prepared -n bench 2>&1 |
	grep -E 'number of transactions actually processed|failed|latency average|tps'

say "what molt-lms counted (https://127.0.0.1:$MPORT/metrics)"
curl -sk "https://127.0.0.1:$MPORT/metrics" |
	grep -E '^lms_(connections_total|requests_total|bytes_total|shadow_requests_total|shadow_mismatches_total|backend_info)'

say "both databases got every write (shadowMode sync), and gave the same answers"
unset PGSSLMODE PGSSLROOTCERT PGCHANNELBINDING
for side in source:$SRC target:$TGT; do
	echo "${side%%:*}: $("$PGBIN/psql" -h 127.0.0.1 -p "${side#*:}" -U lms_admin -d appdb -Atc \
		"SELECT count(*) || ' orders, ' || sum(qty) || ' units' FROM demo_orders"), $("$PGBIN/psql" -h 127.0.0.1 \
		-p "${side#*:}" -U lms_admin -d bench -Atc "SELECT 'branch balance ' || sum(bbalance) FROM pgbench_branches")"
done

say "a row changed on the target only: the next read through the proxy reports it"
"$PGBIN/psql" -h 127.0.0.1 -p "$TGT" -U lms_admin -d appdb -qc "UPDATE demo_orders SET qty = 99 WHERE id = 7"
PGPASSWORD=app-pw "$PGBIN/psql" "$APP" -Atc "SELECT qty FROM demo_orders WHERE id = 7" |
	sed 's/^/the application read qty = /; s/$/ (the source of truth'"'"'s value)/'
for _ in $(seq 1 50); do
	[[ -s "$LMS_TEST_DIR/demo-mismatches.jsonl" ]] && break
	sleep 0.1
done
echo "mismatch log ($LMS_TEST_DIR/demo-mismatches.jsonl):"
tail -n 1 "$LMS_TEST_DIR/demo-mismatches.jsonl"
echo "GET /api/v1/mismatches, statements with a mismatch:"
curl -sk "https://127.0.0.1:$MPORT/api/v1/mismatches" | /usr/bin/python3 -c '
import json, sys
for f in json.load(sys.stdin)["fingerprints"]:
    if f["mismatch"]:
        print("  %d of %d differ: %s" % (f["mismatch"], f["requests"], f["fingerprint"]))'

say "graceful shutdown: SIGTERM drains and exits 0"
kill -TERM "$LMS_PID"
wait "$LMS_PID" && echo "molt-lms exited with status 0"
trap - EXIT
if [[ $KEEP -eq 0 ]]; then tests/pg-cluster.sh stop >/dev/null; fi
echo "demo finished; proxy log: $LMS_TEST_DIR/demo-molt-lms.log"
