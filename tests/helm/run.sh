#!/usr/bin/env bash
# Test the Helm chart in charts/lms without a Kubernetes cluster.
#
# Builds tests/helm/render.go (Go text/template + sprig, Helm's extra functions, values.schema.json
# validation) into a temporary directory, renders the chart for several value sets, checks the
# objects with check_rendered.py, checks that bad values are refused with a clear message, and runs
# yamllint on values.yaml. When a `helm` binary is on PATH, `helm lint` and `helm template` run too.
#
# Debian packages: golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v3-dev
#                  python3-yaml yamllint
# Usage: tests/helm/run.sh          (from anywhere; exits non-zero when a check failed)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
chart=${LMS_CHART_DIR:-$top/charts/lms}   # LMS_CHART_DIR: test another copy of the chart
py=/usr/bin/python3
[[ -x $py ]] || py=python3

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok - $*"; }
fail() { failed=$((failed + 1)); echo "not ok - $*"; }

echo "# building the renderer"
if (cd "$here" && GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS='' GOCACHE="$work/gocache" \
	go build -o "$work/render" render.go) >"$work/build.log" 2>&1; then
	pass "render.go builds"
else
	cat "$work/build.log"
	fail "render.go builds"
	echo "$passed passed, $failed failed"
	exit 1
fi

# render NAME [render args...]: render into $work/NAME.yaml; 0 on success.
render() {
	local name=$1
	shift
	"$work/render" "$@" "$chart" >"$work/$name.yaml" 2>"$work/$name.err"
}

# check CASE FILE [OTHER]: run check_rendered.py and add its counts.
check() {
	local out p f
	out=$("$py" "$here/check_rendered.py" "$@" 2>&1)
	grep -v '^RESULT ' <<<"$out" | grep -v '^ok - ' || true
	read -r _ p f < <(grep '^RESULT ' <<<"$out" || echo "RESULT 0 1")
	passed=$((passed + p))
	failed=$((failed + f))
	echo "# check $1: $p passed, $f failed"
}

# case NAME CHECKCASE [render args...]
case_ok() {
	local name=$1 checkcase=$2
	shift 2
	if render "$name" "$@"; then
		pass "render $name ($*)"
		check "$checkcase" "$work/$name.yaml"
	else
		cat "$work/$name.err"
		fail "render $name ($*)"
	fi
}

# refused NAME PATTERN [render args...]: rendering must fail with a message matching PATTERN.
refused() {
	local name=$1 pattern=$2
	shift 2
	if render "$name" "$@"; then
		fail "$name: bad values accepted ($*)"
	elif grep -Eq -- "$pattern" "$work/$name.err"; then
		pass "$name: refused with: $(grep -E -- "$pattern" "$work/$name.err" | head -1)"
	else
		cat "$work/$name.err"
		fail "$name: refused, but the message does not match /$pattern/"
	fi
}

echo "# chart files"
check chart "$chart"

echo "# rendering"
case_ok default default --name lms --set lms.sourceDialect=postgres
case_ok prod prod --name prod --set lms.sourceDialect=cockroach --set lms.shadowMode=async
case_ok tls tls --name prod --namespace migrate -f "$here/values-tls.yaml"
case_ok tls-any tls-any-namespace --name prod --namespace migrate -f "$here/values-tls.yaml" \
	--set serviceMonitor.namespaced=false
case_ok no-tls no-tls-allowed --name lms --set lms.sourceDialect=postgres --set lms.allowTLSDisable=true
case_ok overrides overrides --name prod --set lms.sourceDialect=postgres --set fullnameOverride=migr \
	--set orchestrator.sourceDialect=cockroach
case_ok other-release other-release --name lms-staging --set lms.sourceDialect=postgres
case_ok name-override name-override --name prod --set lms.sourceDialect=postgres --set nameOverride=proxy
case_ok no-sa no-sa --name lms --set lms.sourceDialect=postgres --set serviceAccount.create=false

if "$work/render" --notes --name lms --set lms.sourceDialect=postgres "$chart" 2>&1 >/dev/null |
	grep -q 'SQL: *lms\.default\.svc:9043'; then
	pass "NOTES.txt renders and names the SQL endpoint"
else
	fail "NOTES.txt renders and names the SQL endpoint"
fi

echo "# checksum annotation"
if render replicas5 --name lms --set lms.sourceDialect=postgres --set lms.replicaCount=5 &&
	render async --name lms --set lms.sourceDialect=postgres --set lms.shadowMode=async; then
	check checksum-same "$work/default.yaml" "$work/replicas5.yaml"
	check checksum-changed "$work/default.yaml" "$work/async.yaml"
else
	fail "render for the checksum comparison"
fi

echo "# bad values are refused"
refused no-dialect 'lms\.sourceDialect must be one of the following: "postgres", "mysql", "cockroach" \(given: ""\)' --name lms
refused empty-dialect 'lms\.sourceDialect must be one of the following: "postgres", "mysql", "cockroach" \(given: ""\)' \
	--name lms --set-string lms.sourceDialect=
refused unknown-dialect 'lms\.sourceDialect must be one of the following: "postgres", "mysql", "cockroach"' \
	--name lms --set lms.sourceDialect=oracle
refused bad-shadow 'lms\.shadowMode must be one of the following: "none", "async", "sync", "strict-sync"' \
	--name lms --set lms.sourceDialect=postgres --set lms.shadowMode=mirror
refused zero-replicas 'lms\.replicaCount: Must be greater than or equal to 1' \
	--name lms --set lms.sourceDialect=postgres --set lms.replicaCount=0
refused string-port 'lms\.service\.port: Invalid type\. Expected: integer' \
	--name lms --set lms.sourceDialect=postgres --set-string lms.service.port=sql
refused bad-service-type 'lms\.service\.type must be one of the following' \
	--name lms --set lms.sourceDialect=postgres --set lms.service.type=Ingress
refused required-in-template 'lms\.sourceDialect is required: set it to postgres, mysql or cockroach' \
	--name lms --skip-schema-validation

echo "# values.schema.json and values.yaml"
# shellcheck disable=SC2016 # $schema is a JSON key, not a shell variable
if "$py" -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s["$schema"].startswith("http://json-schema.org/draft-07/")' \
	"$chart/values.schema.json" 2>"$work/schema.err"; then
	pass "values.schema.json is JSON Schema draft-07"
else
	cat "$work/schema.err"
	fail "values.schema.json is JSON Schema draft-07"
fi
if "$py" -c 'import jsonschema' 2>/dev/null; then
	# Cross-check the renderer's schema subset with a full draft-07 validator when one is installed.
	if "$py" - "$chart/values.schema.json" "$chart/values.yaml" "$here/values-tls.yaml" <<'EOF' >"$work/js.log" 2>&1; then
import json, sys, copy, yaml, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft7Validator.check_schema(schema)
base = yaml.safe_load(open(sys.argv[2]))
v = jsonschema.Draft7Validator(schema)
assert list(v.iter_errors(base)), "default values (empty sourceDialect) must be refused"
ok = copy.deepcopy(base); ok["lms"]["sourceDialect"] = "postgres"
assert not list(v.iter_errors(ok)), [e.message for e in v.iter_errors(ok)]
tls = copy.deepcopy(base)
for k, val in yaml.safe_load(open(sys.argv[3])).items():
    if isinstance(val, dict): tls[k].update(val)
    else: tls[k] = val
assert not list(v.iter_errors(tls)), [e.message for e in v.iter_errors(tls)]
bad = copy.deepcopy(ok); bad["lms"]["shadowMode"] = "mirror"
assert list(v.iter_errors(bad))
EOF
		pass "python3-jsonschema agrees: schema valid, defaults refused, postgres/TLS values accepted, bad shadowMode refused"
	else
		cat "$work/js.log"
		fail "python3-jsonschema cross-check"
	fi
else
	echo "# python3-jsonschema not installed: skipping the cross-check"
fi
if command -v yamllint >/dev/null; then
	if yamllint -d relaxed "$chart/values.yaml" "$chart/Chart.yaml" "$here/values-tls.yaml" >"$work/yamllint.log" 2>&1; then
		pass "yamllint -d relaxed values.yaml Chart.yaml values-tls.yaml"
	else
		cat "$work/yamllint.log"
		fail "yamllint -d relaxed values.yaml Chart.yaml values-tls.yaml"
	fi
else
	fail "yamllint not installed (Debian package yamllint)"
fi

if command -v helm >/dev/null; then
	echo "# helm $(helm version --short 2>/dev/null)"
	if helm lint "$chart" --set lms.sourceDialect=postgres >"$work/helm-lint.log" 2>&1; then
		pass "helm lint"
	else
		cat "$work/helm-lint.log"
		fail "helm lint"
	fi
	if helm template lms "$chart" --set lms.sourceDialect=postgres >"$work/helm-default.yaml" 2>"$work/helm.err"; then
		pass "helm template lms"
		check default "$work/helm-default.yaml"
	else
		cat "$work/helm.err"
		fail "helm template lms"
	fi
	if helm template prod "$chart" --namespace migrate -f "$here/values-tls.yaml" >"$work/helm-tls.yaml" 2>"$work/helm.err"; then
		pass "helm template prod -f values-tls.yaml"
		check tls "$work/helm-tls.yaml"
	else
		cat "$work/helm.err"
		fail "helm template prod -f values-tls.yaml"
	fi
	if helm template lms "$chart" --set lms.sourceDialect=postgres --set lms.shadowMode=mirror >/dev/null 2>"$work/helm.err"; then
		fail "helm template refuses shadowMode=mirror"
	else
		pass "helm template refuses shadowMode=mirror: $(head -1 "$work/helm.err")"
	fi
else
	echo "# helm not on PATH: skipping helm lint and helm template"
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
