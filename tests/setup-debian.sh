#!/usr/bin/env bash
# Install everything LMS needs to build, test and run its demo on Debian 12.
# Usage: tests/setup-debian.sh [--bench]   (run as root, or through sudo)
#   --bench  also install the benchmark anchors (pgbouncer, haproxy)
set -euo pipefail

if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then
	sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
	SUDO="sudo"
fi

packages=(
	build-essential autoconf automake libtool libtool-bin pkg-config
	libevent-dev libssl-dev libjansson-dev libpq-dev libmariadb-dev libxxhash-dev check
	libcurl4-openssl-dev
	postgresql-15 postgresql-client-15 postgresql-contrib
	mariadb-server mariadb-client python3-pymysql
	default-jdk-headless libmariadb-java libdbd-mariadb-perl sysbench
	python3 python3-psycopg2 python3-pytest
	clang libclang-rt-14-dev
	curl ca-certificates openssl procps iproute2 groff-base man-db
	golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v3-dev golang-github-go-sql-driver-mysql-dev
	python3-yaml python3-jsonschema yamllint
	dpkg-dev debhelper lintian fakeroot
)
if [[ "${1:-}" == "--bench" ]]; then
	packages+=(pgbouncer haproxy)
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends "${packages[@]}"
# Debian starts a cluster on 5432 when postgresql is installed; LMS's tests
# use their own clusters and do not need it.
# Likewise MariaDB on 3306: the MySQL tests start their own server
# (tests/mysql-cluster.sh, port 13306 by default).
