#!/usr/bin/env bash
# make-seeds.sh - write the seed corpus for the pgwire fuzz targets and
# fuzz_my_placeholders.
#
# Every seed is: one options byte, one split-seed byte, then the bytes the
# peer sends (see the header comments of fuzz_pg_frontend.c and
# fuzz_pg_backend.c).  Seeds are small, so they can also be committed.
set -euo pipefail

usage() {
	cat <<EOF
Usage: $0 [--help] [OUTDIR]
Write seed inputs into OUTDIR/fuzz_pg_frontend/, OUTDIR/fuzz_pg_backend/,
OUTDIR/fuzz_pg_observe/ and OUTDIR/fuzz_my_placeholders/
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
	printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'
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

# observed sessions (bit 3): statements named by fingerprints
tricky="SELECT 'a''b', E'x\\'y', \$t\$q\$t\$, 1.5e-3, B'1', \"Q\" /* a /* b */ */ FROM t -- c
WHERE id IN (1, 2) ORDER BY 1; SET x = 2"
seed $fe observe_query 8 0 "$login" "$(msg Q "$(cstr "$tricky")")" "$terminate"
seed $fe observe_extended 8 5 "$login" "$extended" \
	"$(msg P "$(cstr s1)$(cstr 'select * from t where a = $1 order by a')0000")" \
	"$(msg B "$(cstr '')$(cstr s1)000000000000")" "$(msg C "$(str S)$(cstr s1)")" \
	"$(msg B "$(cstr '')$(cstr s1)000000000000")" "$(msg S "")"
seed $fe observe_unterminated 200 0 "$login" "$(msg Q "$(str "select \$a\$ 'x /* e'")")"

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

# ---- observed backend: typed messages after the startup ----
ob=fuzz_pg_observe
coldef() { # name, type oid, format
	printf '%s00000000000000%s0004ffffffff%s' "$(cstr "$1")" "$(be32 "$2")" "$3"
}
val() { # text value
	printf '%s%s' "$(be32 ${#1})" "$(str "$1")"
}
text_cols=$(msg T "0005$(coldef a 23 0000)$(coldef b 1700 0000)$(coldef c 701 0000)$(coldef d 16 0000)$(coldef e 25 0000)")
text_row=$(msg D "0005$(val 005)$(val 1.50)$(val 0.1)$(val t)ffffffff")
bin_cols=$(msg T "0005$(coldef a 20 0001)$(coldef b 1700 0001)$(coldef c 700 0001)$(coldef d 16 0001)$(coldef e 17 0001)")
bin_row=$(msg D "00050000000800000000000000050000000c000200000000000200011388000000043dcccccd0000000101ffffffff")
tag=$(msg C "$(cstr 'INSERT 0 5')")
crdb_retry=$(msg E "$(str S)$(cstr ERROR)$(str C)$(cstr 40001)$(str M)$(cstr 'restart transaction')00")
seed $ob postgres_rows 0 0 "$params" "$text_cols" "$text_row" "$rows" "$tag" "$ready_i"
seed $ob cockroach_binary 1 9 "$bin_cols" "$bin_row" "$bin_row" "$(msg C "$(cstr 'SELECT 2')")" "$ready_t" \
	"$crdb_retry" "$ready_e"
seed $ob errors_split 0 3 "$error" "$crdb_retry" "$(msg N "$(str M)$(cstr hi)00")" "$ready_i"
# a row over 32 KiB streams past and is described whole (core/session.c row_copy)
long_text=$(head -c 40000 /dev/zero | tr '\0' x)
long_row=$(msg D "0005$(val 7)$(val 2.50)$(val 0.5)$(val f)$(val "$long_text")")
seed $ob postgres_long_row 0 0 "$params" "$text_cols" "$text_row" "$long_row" "$text_row" "$tag" "$ready_i"
seed $ob postgres_long_row_split 0 7 "$params" "$text_cols" "$long_row" "$tag" "$ready_i"
# values normalised beyond their text: json/jsonb canonical, timestamptz in
# UTC, interval as a duration, real (beside a MySQL client: byte 0 bit 2)
norm_cols=$(msg T "0005$(coldef j 114 0000)$(coldef b 3802 0000)$(coldef t 1184 0000)$(coldef i 1186 0000)$(coldef f 700 0000)")
norm_row=$(msg D "0005$(val '{"b": [1, 2.50, -0, 1e3], "a": "\u00e9\n"}')$(val '[{"x": null}, true]')$(val '2024-05-06 07:08:09.5+02:30')$(val '-2 days -01:30:00.25')$(val 1.2345678)")
seed $ob normalised_values 0 0 "$params" "$norm_cols" "$norm_row" "$tag" "$ready_i"
seed $ob normalised_values_mysql 4 5 "$params" "$norm_cols" "$norm_row" "$tag" "$ready_i"

# ---- fuzz_my_placeholders: byte 0 the fingerprint size, then SQL text ----
ph=$outdir/fuzz_my_placeholders
mkdir -p "$ph"
i=0
while IFS= read -r sql; do
	i=$((i + 1))
	printf '@%s' "$sql" >"$ph/seed-$i"
done <<'SQL'
select * from t where a = ? and b = '?' and c = "?" -- ?
insert into `t?` (a, b) values (?, ?) # trailing ?
select 'it''s \'?\'', /* ? */ ?, `x``?` from t order by ?
update t set a = ? where id in (?, ?, ?) and s like 'a\\%?'
START TRANSACTION
select 1--?
select ?/* unterminated ?
SQL
