#!/usr/bin/env bash
# make-seeds.sh - write the seed corpus for the pgwire fuzz targets.
#
# Every seed is: one options byte, one split-seed byte, then the bytes the
# peer sends (see the header comments of fuzz_pg_frontend.c and
# fuzz_pg_backend.c).  Seeds are small, so they can also be committed.
set -euo pipefail

usage() {
	cat <<EOF
Usage: $0 [--help] [OUTDIR]
Write seed inputs into OUTDIR/fuzz_pg_frontend/ and OUTDIR/fuzz_pg_backend/
(default OUTDIR: the corpus/ directory next to this script).
EOF
}

case "${1:-}" in
-h | --help)
	usage
	exit 0
	;;
-*)
	usage >&2
	exit 2
	;;
esac

here=$(cd "$(dirname "$0")" && pwd)
outdir=${1:-$here/corpus}

# ---- building messages as hex text ----

# Hex of a 32-bit big-endian integer.
be32() {
	printf '%08x' "$1"
}

# Hex of a string, without a terminator.
str() {
	printf '%s' "$1" | od -An -tx1 | tr -d ' \n'
}

# Hex of a NUL-terminated string.
cstr() {
	printf '%s00' "$(str "$1")"
}

# A typed message: msg TYPECHAR PAYLOADHEX
msg() {
	local payload=$2
	printf '%s%s%s' "$(str "$1")" "$(be32 $((${#payload} / 2 + 4)))" "$payload"
}

# A startup-phase packet: startup CODE PAYLOADHEX
startup() {
	local payload=$2
	printf '%s%s%s' "$(be32 $((${#payload} / 2 + 8)))" "$(be32 "$1")" "$payload"
}

# Write hex text as bytes into a file: seed DIR NAME OPTS SPLIT HEX...
seed() {
	local dir=$1 name=$2 opts=$3 split=$4
	shift 4
	local hex
	hex=$(printf '%02x%02x' "$opts" "$split")$(printf '%s' "$@")
	mkdir -p "$outdir/$dir"
	printf '%b' "$(printf '%s' "$hex" | sed 's/../\\x&/g')" >"$outdir/$dir/$name"
}

PROTO3=196608
SSLREQ=80877103
GSSREQ=80877104
CANCEL=80877102

login=$(startup $PROTO3 "$(cstr user)$(cstr alice)$(cstr database)$(cstr sales)00")
query=$(msg Q "$(cstr 'select 1')")
terminate=$(msg X "")
extended=$(msg P "$(cstr '')$(cstr "select \$1")0000")$(msg B "$(cstr '')$(cstr '')0000000100000001310000")$(msg E "$(cstr '')00000000")$(msg S "")

# ---- frontend: the client's side ----
fe=fuzz_pg_frontend
seed $fe plain_query 0 0 "$login" "$query" "$terminate"
seed $fe plain_split 0 7 "$login" "$query" "$extended" "$terminate"
seed $fe ssl_then_login 1 0 "$(startup $SSLREQ '')" "$login" "$query"
seed $fe ssl_split 1 3 "$(startup $SSLREQ '')" "$login" "$extended"
seed $fe gss_then_ssl 1 9 "$(startup $GSSREQ '')" "$(startup $SSLREQ '')" "$login"
seed $fe tls_required_plain 2 0 "$login"
seed $fe tls_required_tls 7 0 "$login" "$query"
seed $fe cancel 0 0 "$(startup $CANCEL 0000303900c0ffee)"
seed $fe copy_in 0 11 "$login" "$(msg Q "$(cstr 'copy t from stdin')")" \
	"$(msg d "$(str $'1\n2\n')")" "$(msg c '')"
seed $fe no_user 0 0 "$(startup $PROTO3 "$(cstr database)$(cstr x)00")"
seed $fe protocol2 0 0 "$(startup 131072 "$(cstr user)$(cstr a)00")"

# ---- backend: the database's side ----
auth_ok=$(msg R "$(be32 0)")
params=$(msg S "$(cstr server_version)$(cstr 15.0)")$(msg S "$(cstr TimeZone)$(cstr UTC)")
key=$(msg K 0000303900c0ffee)
ready_i=$(msg Z "$(str I)")
ready_t=$(msg Z "$(str T)")
ready_e=$(msg Z "$(str E)")
rows=$(msg T "0001$(cstr x)000000000000000000170004ffffffff0000")$(msg D "00010000000131")$(msg C "$(cstr 'SELECT 1')")
error=$(msg E "$(str S)$(cstr ERROR)$(str C)$(cstr 42P01)$(str M)$(cstr 'no such table')00")
sasl=$(msg R "$(be32 10)$(cstr SCRAM-SHA-256-PLUS)$(cstr SCRAM-SHA-256)00")
sasl_plus=$(msg R "$(be32 10)$(cstr SCRAM-SHA-256-PLUS)00")
sasl_more=$(msg R "$(be32 11)$(str 'r=abc,s=c2FsdA==,i=4096')")$(msg R "$(be32 12)$(str 'v=xyz')")
md5=$(msg R "$(be32 5)73616c74")

be=fuzz_pg_backend
seed $be disable_session 0 0 "$auth_ok" "$params" "$key" "$ready_i" "$rows" "$ready_t" "$error" "$ready_e"
seed $be disable_split 0 5 "$auth_ok" "$params" "$key" "$ready_i" "$rows" "$ready_i"
seed $be prefer_refused_sasl 1 0 "$(str N)" "$sasl" "$sasl_more" "$auth_ok" "$key" "$ready_i"
seed $be prefer_accepted 1 0 "$(str S)"
seed $be prefer_accepted_split 1 13 "$(str S)" "$auth_ok" "$key" "$ready_i"
seed $be require_refused 2 0 "$(str N)"
seed $be verify_full_garbage 4 0 "$(str E)"
seed $be only_plus 0 0 "$sasl_plus"
seed $be other_family_md5 8 0 "$md5" "$auth_ok" "$ready_i"
seed $be user_too_long 248 0 "$auth_ok"
seed $be gss_refused 0 0 "$(msg R "$(be32 7)")"
