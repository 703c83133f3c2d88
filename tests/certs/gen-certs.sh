#!/usr/bin/env bash
# gen-certs.sh - generate throwaway TLS material for the LMS test suite.
#
# Writes into OUTDIR:
#   ca.crt ca.key                 test CA (self-signed)
#   server.crt server.key         CN=localhost, SAN DNS:localhost,IP:127.0.0.1 (PostgreSQL test clusters)
#   proxy.crt proxy.key           CN=localhost, SAN DNS:localhost,IP:127.0.0.1 (the proxy's own listener)
#   client.crt client.key         CN=app (client certificate)
#   other-ca.crt other-ca.key     an unrelated CA (negative tests)
#   other-client.crt other-client.key  CN=app signed by the unrelated CA (negative tests)
# All certificates are valid for 10 years. Keys are mode 0600, certificates 0644.
# Only the openssl command-line tool is used.

set -euo pipefail

PROG=${0##*/}
DAYS=3650

usage() {
    cat <<EOF
Usage: $PROG [--force] [--owner USER] [--key-type rsa|ec] OUTDIR

Generate a test CA plus server, proxy and client certificates into OUTDIR.

Options:
  --force           regenerate even if OUTDIR/ca.crt already exists
  --owner USER      chown OUTDIR and everything in it to USER (needs root)
  --key-type TYPE   rsa (RSA 2048, default) or ec (EC P-256)
  -h, --help        show this help and exit

Without --force the script does nothing if OUTDIR/ca.crt exists (idempotent).
EOF
}

die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}

force=0
owner=""
key_type=rsa
outdir=""

while [[ $# -gt 0 ]]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --force) force=1; shift ;;
        --owner)
            [[ $# -ge 2 ]] || die "--owner needs an argument"
            owner=$2; shift 2 ;;
        --owner=*) owner=${1#*=}; shift ;;
        --key-type)
            [[ $# -ge 2 ]] || die "--key-type needs an argument"
            key_type=$2; shift 2 ;;
        --key-type=*) key_type=${1#*=}; shift ;;
        --) shift; break ;;
        -*) die "unknown option: $1 (see --help)" ;;
        *)
            [[ -z "$outdir" ]] || die "only one OUTDIR may be given"
            outdir=$1; shift ;;
    esac
done
if [[ $# -gt 0 ]]; then
    [[ -z "$outdir" && $# -eq 1 ]] || die "only one OUTDIR may be given"
    outdir=$1
fi
[[ -n "$outdir" ]] || { usage >&2; exit 2; }

case "$key_type" in
    rsa) key_usage="digitalSignature, keyEncipherment" ;;
    ec)  key_usage="digitalSignature" ;;
    *)   die "--key-type must be rsa or ec" ;;
esac

command -v openssl >/dev/null 2>&1 || die "openssl not found in PATH"

do_chown() {
    [[ -n "$owner" ]] || return 0
    if [[ $(id -u) -ne 0 ]]; then
        [[ "$owner" == "$(id -un)" ]] && return 0
        die "--owner $owner requires root"
    fi
    chown -R "$owner:" "$outdir"
}

if [[ $force -eq 0 && -e "$outdir/ca.crt" ]]; then
    do_chown
    exit 0
fi

mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd -P)

umask 077
work=$(mktemp -d "$outdir/.gen-certs.XXXXXX")
trap 'rm -rf "$work"' EXIT

cnf=$work/openssl.cnf
cat >"$cnf" <<EOF
[ req ]
distinguished_name = req_dn
prompt             = no
string_mask        = utf8only

[ req_dn ]
CN = placeholder

[ v3_ca ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ server_ext ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, $key_usage
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid, issuer

[ client_ext ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, $key_usage
extendedKeyUsage       = clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid, issuer
EOF

# ssl() NAME...: run openssl quietly, showing its output only on failure.
ssl() {
    local log=$work/openssl.log
    if ! openssl "$@" >"$log" 2>&1; then
        cat "$log" >&2
        die "openssl $1 failed"
    fi
}

genkey() {
    if [[ "$key_type" == rsa ]]; then
        ssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1"
    else
        ssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
            -pkeyopt ec_param_enc:named_curve -out "$1"
    fi
}

serial() {
    printf '0x%s' "$(openssl rand -hex 16)"
}

# make_ca NAME CN
make_ca() {
    genkey "$work/$1.key"
    ssl req -config "$cnf" -new -x509 -sha256 -days "$DAYS" \
        -key "$work/$1.key" -subj "/O=LMS test/CN=$2" \
        -extensions v3_ca -set_serial "$(serial)" -out "$work/$1.crt"
}

# make_leaf NAME CN EXTENSIONS CA
make_leaf() {
    genkey "$work/$1.key"
    ssl req -config "$cnf" -new -sha256 -key "$work/$1.key" \
        -subj "/O=LMS test/CN=$2" -out "$work/$1.csr"
    ssl x509 -req -sha256 -days "$DAYS" -in "$work/$1.csr" \
        -CA "$work/$4.crt" -CAkey "$work/$4.key" -set_serial "$(serial)" \
        -extfile "$cnf" -extensions "$3" -out "$work/$1.crt"
    rm -f "$work/$1.csr"
}

make_ca ca "LMS Test CA"
make_ca other-ca "LMS Unrelated Test CA"
make_leaf server localhost server_ext ca
make_leaf proxy localhost server_ext ca
make_leaf client app client_ext ca
make_leaf other-client app client_ext other-ca

ssl verify -CAfile "$work/ca.crt" "$work/server.crt" "$work/proxy.crt" "$work/client.crt"
ssl verify -CAfile "$work/other-ca.crt" "$work/other-client.crt"
if openssl verify -CAfile "$work/other-ca.crt" "$work/server.crt" >/dev/null 2>&1; then
    die "sanity check failed: server.crt verifies against other-ca.crt"
fi

files=(other-ca other-client server proxy client ca)
for f in "${files[@]}"; do
    chmod 0600 "$work/$f.key"
    chmod 0644 "$work/$f.crt"
done
# Install; ca.crt goes last because its presence marks a complete set.
rm -f "$outdir/ca.crt"
for f in "${files[@]}"; do
    mv -f "$work/$f.key" "$outdir/$f.key"
    mv -f "$work/$f.crt" "$outdir/$f.crt"
done
chmod 0755 "$outdir"
do_chown
printf '%s: wrote test certificates (%s) to %s\n' "$PROG" "$key_type" "$outdir"
