/*
 * mysql.h - the MySQL client/server protocol for mysql.so, shared by its
 * files (not an installed header).
 *
 * One session (struct my_sess) is the frontend state the core hands to
 * fe_*; the backend of the same session borrows it (lms_be_opts.fe_state),
 * since a MySQL backend must know the command it answers and the
 * capabilities the client negotiated, and the frontend the sequence ids.
 * docs/mysql.md describes the protocol as the plugin handles it.
 */
#ifndef LMS_MYSQL_H
#define LMS_MYSQL_H

#include <stddef.h>
#include <stdint.h>

#include <lms/plugin.h>

extern const struct lms_host_api *my_host;

/* A packet: 3-byte little-endian payload length, sequence id, payload. */
#define MY_HDR 4u
#define MY_MAX_PAYLOAD 0xFFFFFFu

/* Capability flags (the greeting, the client's HandshakeResponse). */
#define MY_CAP_MYSQL 0x1u /* CLIENT_LONG_PASSWORD; clear: MariaDB extensions */
#define MY_CAP_CONNECT_WITH_DB 0x8u
#define MY_CAP_COMPRESS 0x20u
#define MY_CAP_LOCAL_FILES 0x80u
#define MY_CAP_PROTOCOL_41 0x200u
#define MY_CAP_SSL 0x800u
#define MY_CAP_TRANSACTIONS 0x2000u
#define MY_CAP_SECURE_CONNECTION 0x8000u
#define MY_CAP_MULTI_STATEMENTS 0x10000u
#define MY_CAP_MULTI_RESULTS 0x20000u
#define MY_CAP_PLUGIN_AUTH 0x80000u
#define MY_CAP_PLUGIN_AUTH_LENENC 0x200000u
#define MY_CAP_DEPRECATE_EOF 0x1000000u
#define MY_CAP_OPTIONAL_METADATA 0x2000000u
#define MY_CAP_ZSTD 0x4000000u
#define MY_CAP_PROGRESS_OBSOLETE 0x20000000u
/* Never offered: compression (the core streams bytes it cannot inflate),
 * optional result-set metadata and MariaDB progress reports (both change
 * the shape of responses the plugin follows). */
#define MY_CAP_FILTERED (MY_CAP_COMPRESS | MY_CAP_ZSTD | MY_CAP_OPTIONAL_METADATA | MY_CAP_PROGRESS_OBSOLETE)

/* Server status flags (OK and EOF packets). */
#define MY_ST_IN_TRANS 0x1u
#define MY_ST_AUTOCOMMIT 0x2u
#define MY_ST_MORE_RESULTS 0x8u
#define MY_ST_CURSOR_EXISTS 0x40u
#define MY_ST_LAST_ROW_SENT 0x80u

/* Commands. */
enum {
	MY_COM_SLEEP = 0x00, MY_COM_QUIT = 0x01, MY_COM_INIT_DB = 0x02, MY_COM_QUERY = 0x03,
	MY_COM_FIELD_LIST = 0x04, MY_COM_REFRESH = 0x07, MY_COM_STATISTICS = 0x09,
	MY_COM_PROCESS_INFO = 0x0a, MY_COM_PROCESS_KILL = 0x0c, MY_COM_DEBUG = 0x0d,
	MY_COM_PING = 0x0e, MY_COM_CHANGE_USER = 0x11, MY_COM_STMT_PREPARE = 0x16,
	MY_COM_STMT_EXECUTE = 0x17, MY_COM_STMT_SEND_LONG_DATA = 0x18, MY_COM_STMT_CLOSE = 0x19,
	MY_COM_STMT_RESET = 0x1a, MY_COM_SET_OPTION = 0x1b, MY_COM_STMT_FETCH = 0x1c,
	MY_COM_RESET_CONNECTION = 0x1f
};

/* Login progress. */
enum my_state {
	MY_S_GREETING = 0, /* waiting for the database's greeting */
	MY_S_HANDSHAKE,    /* greeting relayed; the client's SSLRequest or
			      HandshakeResponse is next */
	MY_S_AUTH,         /* the authentication exchange is relayed */
	MY_S_READY,        /* logged in: commands */
	MY_S_CLOSED        /* the login failed; nothing more is relayed */
};

/* What the current response is at (the backend's side). */
enum my_resp {
	MY_R_IDLE = 0,     /* no response owed */
	MY_R_FIRST,        /* a command's first answer (OK, ERR, columns, ...) */
	MY_R_COLS,         /* column definitions of a result set */
	MY_R_COLS_EOF,     /* the EOF after them */
	MY_R_ROWS,         /* rows until EOF/OK or ERR */
	MY_R_INFILE,       /* LOCAL INFILE: the client sends, then OK/ERR */
	MY_R_OKERR,        /* a command answered by OK, EOF or ERR only */
	MY_R_STATS,        /* COM_STATISTICS: one string */
	MY_R_FIELDS,       /* COM_FIELD_LIST: definitions until EOF */
	MY_R_PREP,         /* COM_STMT_PREPARE: its OK */
	MY_R_PREP_PARAMS,  /* parameter definitions */
	MY_R_PREP_PARAMS_EOF,
	MY_R_PREP_COLS,    /* column definitions */
	MY_R_PREP_COLS_EOF,
	MY_R_AUTH          /* COM_CHANGE_USER: an authentication exchange */
};

/* What the client owes next, besides a new command. */
enum my_owes {
	MY_OWES_NOTHING = 0,
	MY_OWES_AUTH,      /* an answer to an authentication packet */
	MY_OWES_INFILE     /* file packets, ended by an empty one */
};

#define MY_QUEUE 64u /* commands sent and not yet answered */

#define MY_SCRAMBLE_LEN 20u
#define LMS_VERIFIER_MAX 512u /* a verifier the own login accepts, at most */

struct my_cmd {
	uint8_t cmd;
	uint8_t first_seq; /* sequence id of the answer's first packet */
	uint8_t local;     /* translated: enum my_local, answered by LMS */
	char tag[LMS_TAG_MAX]; /* observing: the command tag of its statement */
	char *prep;        /* observing, COM_STMT_PREPARE: its text (host->alloc,
			      owned by the queue, then by prep_sql) */
	size_t prep_len;
	uint8_t cursor;    /* translated COM_STMT_EXECUTE: opens a cursor (cmds.c) */
	uint32_t stmt;     /* translated EXECUTE, FETCH: the statement id */
	uint32_t nrows;    /* translated FETCH: rows asked */
	uint8_t ac_commit; /* translated SET autocommit=1 while it was off:
			      an open transaction is committed (request.c) */
	uint8_t hide;      /* a shadow's own command (shadow_req.c): its
			      answer is not the request's */
	uint8_t reprep;    /* a session moved back: statement `stmt`
			      prepared again on the new connection (remap.c) */
};

/* A prepared statement, remembered while observing (translation, ABI
 * 1.3): its text and the parameter types of its last execution. */
#define MY_STMTS 256u
#define MY_FP_MAX 1024u

/* COM_STMT_SEND_LONG_DATA of one parameter, kept for the statement's next
 * execution (cmds.c). */
struct my_long {
	uint8_t *data;     /* host->alloc */
	size_t len, cap;
	int sent;          /* a chunk came (even empty): the execution carries
			      no value for this parameter */
};
/* Long data kept per session, all statements together: beyond it the
 * execution is refused (ERR 1153). */
#define MY_LONG_DATA_MAX (1024u * 1024u)

/* A cursor opened by a translated COM_STMT_EXECUTE (cmds.c): its binary
 * row packets, whole (header included), kept until COM_STMT_FETCH sends
 * them. */
struct my_cursor {
	uint8_t *buf;      /* host->alloc */
	size_t len, cap;
	size_t off;        /* the next row to fetch */
	int open;
};
/* Cursor rows kept per session, all cursors together: beyond it the
 * execution fails (ERR 1114). */
#define MY_CURSOR_MAX (16u * 1024u * 1024u)

struct my_stmt {
	uint32_t id;         /* the database's statement id */
	int used;
	int long_data;       /* COM_STMT_SEND_LONG_DATA was sent for it */
	char *sql;           /* host->alloc */
	size_t len;
	uint32_t nparams;
	uint32_t ncols;      /* result columns its PREPARE OK announced */
	uint8_t *types;      /* 2 * nparams bytes, host->alloc; NULL until bound */
	struct my_long *ld;  /* nparams entries once long data came, host->alloc */
	int ld_over;         /* long data was lost or over MY_LONG_DATA_MAX */
	struct my_cursor cur; /* translated: its open cursor */
	uint32_t *holes;     /* its placeholders' offsets (my_stmt_scan), host->alloc */
	uint32_t txn_flags;  /* its LMS_REQ_* transaction flags (my_txn_flags) */
	int scanned;         /* 1: holes and txn_flags are known; -1: its
			        placeholders do not match nparams */
	uint32_t db_id;      /* remap (a session moved back): its id on the
				database's connection; 0: none there */
	int db_typed;        /* remap: its parameter types were sent there */
};

/* One column of a result set, from its definition (be_observe). */
struct my_col {
	uint8_t type;
	uint16_t flags;
	uint16_t charset;
	uint32_t length; /* the definition's column length (BIT(n): n) */
};
#define MY_COLS_MAX 4096u
#define MY_FLAG_UNSIGNED 0x20u
#define MY_CHARSET_BINARY 63u

/* Translated sessions (ABI 1.4): requests answered by LMS itself
 * (local.c), after a round trip that keeps answers in order. */
enum my_local {
	MY_L_NONE = 0,   /* the database answers */
	MY_L_OK,         /* an OK (SET NAMES, SET autocommit=1, ...) */
	MY_L_VARS,       /* SELECT @@var, ...: one row */
	MY_L_SHOW,       /* SHOW VARIABLES [LIKE ...]: (Variable_name, Value) rows */
	MY_L_WARNINGS,   /* SHOW WARNINGS: no rows */
	MY_L_DATABASE,   /* SELECT DATABASE(): the session's database */
	MY_L_INIT_DB,    /* COM_INIT_DB or USE: OK when it names the session's
			    database, else ERR */
	MY_L_ERROR,      /* an ERR (local_err says which) */
	MY_L_AC_OFF,     /* an OK to a SET of autocommit=0 (with ignored
			    ones): the session's statements open a
			    transaction from now on (BEGIN_FIRST) */
	MY_L_AC_ON,      /* ... of autocommit=1: an open transaction is
			    committed first, as MySQL does */
	/* commands other than queries (cmds.c) */
	MY_L_STATISTICS, /* COM_STATISTICS: a status string */
	MY_L_FIELD_LIST, /* COM_FIELD_LIST: ERR (deprecated, not served) */
	MY_L_FETCH,      /* COM_STMT_FETCH: rows of a cursor kept here */
	MY_L_CHANGE_USER, /* COM_CHANGE_USER: an auth switch request */
	MY_L_USER_OK,    /* its verified answer: OK */
	MY_L_USER_DENIED, /* ... refused: ERR 1045, then nothing more */
	MY_L_LONG_ERR,   /* COM_STMT_EXECUTE whose long data was too big: ERR */
	MY_L_SET_OPTION, /* COM_SET_OPTION: EOF (multi-statements on or off) */
	MY_L_BAD_OPTION  /* ... of an unknown option: ERR 1047 */
};

/* One answer being written for a translated session (answer.c). */
struct my_ans {
	int started;       /* the queue's head command is being answered */
	struct my_cmd cmd; /* popped from the queue */
	int done;          /* written whole: events until READY are dropped */
	int in_set;        /* column definitions sent: rows follow */
	int held;          /* a statement completed: its end packet waits to
			      know whether more results follow */
	int held_set;      /* ... and it ends a result set (EOF) */
	uint64_t held_rows;
	uint64_t held_id;  /* ... and its last insert id */
	uint32_t ncols;
	uint8_t *types;    /* MY_COLS_MAX: MySQL type of each column */
	uint8_t *classes;  /* MY_COLS_MAX: lms_type_class of each column */
	uint8_t *pads;     /* MY_COLS_MAX: fractional digits a time value is
			      written with (its declared scale), 0xFF: as is */
	uint32_t nparams;  /* COM_STMT_PREPARE: from PARAMS */
	int unsupported;   /* the core answered the request (ERROR, READY) */
	int err_held;      /* an ERROR ends the answer: written at READY, so
			      that the client's next command finds the
			      database ready (and its transaction repaired) */
	uint16_t err_code;
	char err_state[6];
	char err_text[LMS_EV_TEXT_MAX];
	struct my_cursor *cur; /* a cursor execution's result set being kept
				  (cmds.c), NULL otherwise */
	uint8_t cur_seq;   /* the sequence id after its definitions */
	int cur_over;      /* its rows went over MY_CURSOR_MAX */
};

/* Transaction characteristics a SET names (lexer.c, isolation.c). */
enum my_iso {
	MY_ISO_DEFAULT = 0, /* not set: the database's default */
	MY_ISO_READ_UNCOMMITTED,
	MY_ISO_READ_COMMITTED,
	MY_ISO_REPEATABLE_READ,
	MY_ISO_SERIALIZABLE
};
enum { MY_ACCESS_DEFAULT = 0, MY_ACCESS_READ_ONLY, MY_ACCESS_READ_WRITE };
enum { MY_TXC_NONE = 0, MY_TXC_SESSION, MY_TXC_NEXT };
struct my_txc {
	uint8_t level;  /* enum my_iso, 0: unchanged */
	uint8_t access; /* MY_ACCESS_*, 0: unchanged */
};

struct my_sess {
	/* frontend options */
	int tls_available;
	int tls_required;
	uint8_t conn_id[4];       /* the proxy's connection id (from its key) */
	/* own login (ABI 1.4, login.c) */
	int own_login;            /* lms_fe_opts.own_login */
	char client_ip[48];       /* lms_fe_opts.client_ip */
	uint8_t scramble[MY_SCRAMBLE_LEN]; /* the greeting's */
	char login_user[128];     /* from the HandshakeResponse */
	char login_db[256];
	uint8_t login_ok_seq;     /* sequence id of the OK that ends the login */
	/* login */
	int state;                /* enum my_state */
	int cli_tls;              /* the client's leg is TLS */
	int be_tls;               /* the database's leg is (will be) TLS */
	int shift;                /* database-leg seq minus client-leg seq */
	uint32_t server_caps;     /* the greeting's, as the database sent it */
	uint32_t adv_caps;        /* what the proxy offered the client */
	uint32_t caps;            /* negotiated (client's & offered) */
	uint8_t *hs;              /* HandshakeResponse held for be_start(1) */
	size_t hs_len;
	/* sequence ids */
	uint8_t cseq;             /* next client packet */
	uint8_t sseq;             /* next database packet */
	uint8_t to_client;        /* next packet toward the client (fe_error) */
	int owes;                 /* enum my_owes */
	/* client side of the command phase */
	int fe_cont;              /* the last client packet was 0xFFFFFF long */
	uint8_t fe_cont_cmd;      /* the command it belongs to */
	int fe_cont_resp;         /* ... and whether it gets an answer */
	int fe_cont_ends;         /* ... and its last packet ends the request */
	struct my_cmd queue[MY_QUEUE];
	uint32_t q_head, q_len;
	/* database side of the command phase */
	int resp;                 /* enum my_resp */
	uint8_t cmd;              /* the command being answered */
	uint8_t hide;             /* ... is hidden (struct my_cmd.hide) */
	uint8_t reprep;           /* ... prepares statement reprep_id again */
	uint32_t reprep_id;
	int be_cont;              /* the last database packet was 0xFFFFFF long */
	uint32_t be_cont_kind;    /* the lms_msg_kind of its rest */
	uint64_t left;            /* definitions still expected */
	uint32_t prep_cols;       /* COM_STMT_PREPARE: column count */
	uint32_t txn;             /* enum lms_txn_state, last known */
	int autocommit;           /* the session's autocommit: MariaDB's
				     status flag while relayed, then what
				     the client SET while translated */
	int moved_ac_off;         /* moved back with autocommit off: the new
				     connection's login says on (isolation.c) */
	struct my_txc iso;        /* transaction characteristics the client
				     SET for the session (isolation.c) */
	struct my_txc next_txc;   /* ... for its next transaction only */
	struct my_txc begin_txc;  /* ... for the BEGIN just decoded */
	char other[96];           /* fe_request's other_sql (ABI 1.9) */
	char state_sql[80];       /* fe_switch_state's sql */
	size_t other_len;
	uint8_t end_seq;          /* sequence id of the packet that ended the
				     last answer (fe_error_in_answer) */
	uint8_t end_cmd;          /* the command it answered */
	/* observing (LMS_OBSERVE_FULL): fingerprints and translation */
	int observe;
	char fp[MY_FP_MAX];       /* the last decoded command's fingerprint */
	int fp_streamed;          /* ... of a command streamed undecoded, from
				     its first bytes (my_fe_statement) */
	char *prep_sql;           /* the COM_STMT_PREPARE being answered */
	size_t prep_len;
	struct my_stmt stmts[MY_STMTS];
	char tag[LMS_TAG_MAX];    /* the tag of the command being answered */
	/* fe_request's answer, valid until its next call */
	uint32_t *holes;          /* LMS_REQ_HOLES_MAX */
	struct lms_param *params; /* LMS_REQ_HOLES_MAX */
	char *text;               /* parameters as text */
	size_t text_cap;
	/* serving across wire families (ABI 1.4) */
	int keep;                 /* lms_fe_opts.keep_statements */
	int translated;           /* fe_set_translated was called */
	uint32_t max_stmt_id;     /* the highest statement id the client got */
	int remap;                /* moved back holding statements: their ids
				     are the client's, the database's differ
				     (remap.c) */
	int retype;               /* remap: the execution being decoded gets
				     its parameter types (remap.c) */
	char db[65];              /* the database named at login (or USE) */
	struct my_ans ans;
	/* commands beyond queries, translated (cmds.c) */
	uint32_t local_req;       /* the message fe_decode just saw is answered
				     by LMS after this empty round trip
				     (enum lms_req_kind), 0: not */
	struct my_long *exec_ld;  /* the long data of the execution just
				     decoded (taken from its statement) */
	uint32_t exec_ld_n;
	uint32_t exec_ld_stmt;
	size_t ld_bytes;          /* long data kept, all statements */
	size_t cur_bytes;         /* cursor rows kept, all cursors */
	int cu_pending;           /* COM_CHANGE_USER: the switch request was
				     sent, the client's answer is next */
	char cu_user[128];        /* ... for this user */
	char cu_db[65];
	uint8_t cu_scramble[MY_SCRAMBLE_LEN];
	int cu_verdict;           /* COM_CHANGE_USER checked against the
				     session's scramble: 1 verified, -1
				     refused (cu_why), 0 a switch request */
	char cu_why[400];
	int scramble_known;       /* s->scramble is the session's: our own
				     greeting's, or the source's relayed one */
};

/* packet.c: bytes */
uint32_t my_le16(const uint8_t *p);
uint32_t my_le24(const uint8_t *p);
uint32_t my_le32(const uint8_t *p);
void my_put24(uint8_t *p, uint32_t v);
/* A length-encoded integer at p[0..avail): its value in *v and its size in
 * bytes; 0 when more bytes are needed, -1 when it is not one (0xFB NULL,
 * 0xFF). */
int my_lenenc(const uint8_t *p, size_t avail, uint64_t *v);
/* The status flags of payload pl[0..n): an OK packet (ok_format: header
 * 0x00, or 0xFE ending a result set with CLIENT_DEPRECATE_EOF) or an EOF
 * packet (0xFE, less than 9 bytes).  -1 when malformed. */
int my_status(const uint8_t *pl, size_t n, int ok_format, uint32_t *status);
/* The OK that ends a login (relayed or the plugin's own): the session is
 * ready, with the transaction state it gives.  Returns 0, -1 when the OK
 * is malformed. */
int my_login_ok(struct my_sess *s, const uint8_t *pl, size_t n, struct lms_result *res);
/* An ERR packet into out: code, SQLSTATE (5 chars), message (cut to fit),
 * with sequence id seq; with_state: the "#SQLSTATE" marker (protocol 4.1). */
void my_err_packet(struct lms_out *out, uint8_t seq, uint16_t code, const char *sqlstate, const char *msg,
		   int with_state);

/* state.c: the shared state */
struct my_sess *my_sess_new(void);
void my_sess_free(struct my_sess *s);
int my_queue_push(struct my_sess *s, uint8_t cmd, uint8_t first_seq);
int my_queue_pop(struct my_sess *s, struct my_cmd *out);

/* stmt.c: prepared statements remembered while observing */
struct my_stmt *my_stmt_find(struct my_sess *s, uint32_t id);
/* The PREPARE OK for the pending text: remember it (takes prep_sql). */
void my_stmt_prepared(struct my_sess *s, uint32_t id, uint32_t nparams, uint32_t ncols);
void my_stmt_close(struct my_sess *s, uint32_t id);
/* The parameter types an execution pl[0..n) (COM_STMT_EXECUTE's payload)
 * of st binds itself, new-params-bound flag 1: 1, *types pointing at them
 * in pl; 0 when it binds none (no parameters, or the flag is 0); -1 when
 * they are not all in pl[0..n). */
int my_stmt_bound_types(const struct my_stmt *st, const uint8_t *pl, size_t n, const uint8_t **types);
void my_stmt_clear(struct my_sess *s);
/* Scan st's text once for its placeholders and transaction flags (kept
 * in st).  Returns 0, or -1 when its placeholders do not match its
 * parameters or memory runs out (then it cannot be translated). */
int my_stmt_scan(struct my_stmt *st);

/* lexer.c: MySQL's lexical rules (placeholders, fingerprints, tags) */
/* Byte offsets of the '?' placeholders of sql[0..len) into holes: their
 * count, or -1 when there are more than max. */
long my_placeholders(const char *sql, size_t len, uint32_t *holes, uint32_t max);
/* The fingerprint into out[0..cap) (NUL-terminated, cut to fit), its
 * LMS_STMT_* flags (ORDERED, BEGIN, SETTING) in *flags.  Returns its
 * length. */
size_t my_fingerprint(const char *sql, size_t len, char *out, size_t cap, uint32_t *flags);
/* The command tag PostgreSQL would give the statement: its first word
 * uppercased (two for CREATE, DROP, ALTER, START). */
void my_tag(const char *sql, size_t len, char tag[LMS_TAG_MAX]);
/* The transaction flags (LMS_REQ_*, ABI 1.5) of a COM_QUERY's text, for a
 * database that does not behave as MySQL: every statement is atomic;
 * BEGIN, START TRANSACTION and DDL (not on temporary tables) commit first;
 * COMMIT must not be answered by a rollback; a SELECT that neither locks
 * rows nor writes (INTO) only reads (looked for only in_txn: the session
 * is inside a transaction). */
uint32_t my_txn_flags(const char *sql, size_t len, int in_txn);
/* Does this statement, with autocommit off and no transaction open, open
 * one on MySQL?  Everything but transaction control, SET, SHOW, USE and
 * statements that commit implicitly. */
int my_opens_txn(const char *sql, size_t len);
/* SET [SESSION | LOCAL | @@session.] TRANSACTION <ISOLATION LEVEL x |
 * READ ONLY | READ WRITE, ...>, SET [SESSION] transaction_isolation =
 * '<x>' (or tx_isolation), SET @@transaction_isolation = '<x>': what it
 * sets in *t, and its scope: MY_TXC_SESSION, MY_TXC_NEXT (the next
 * transaction only), MY_TXC_NONE when the text is not one of those
 * alone (GLOBAL ones included: MariaDB's to judge). */
int my_txn_chars(const char *sql, size_t len, struct my_txc *t);
/* BEGIN [WORK] (MY_BEGIN_BEGIN) or START TRANSACTION (MY_BEGIN_START)
 * alone, else 0. */
enum { MY_BEGIN_BEGIN = 1, MY_BEGIN_START };
int my_bare_begin(const char *sql, size_t len);
/* isolation.c: may this COM_QUERY text set transaction characteristics
 * (it begins with SET)?  What a session that is not observed decodes. */
int my_iso_may_set(const char *sql, size_t len);
/* A COM_QUERY decoded (observed or translated): the
 * characteristics it sets, or a pending one it uses or forgets. */
void my_iso_decoded(struct my_sess *s, const char *sql, size_t len);
/* fe_request of a QUERY: req->other_sql when PostgreSQL's protocol needs
 * another text (s->other holds it until the next call). */
void my_iso_request(struct my_sess *s, struct lms_request *req);
/* A relayed session's variables were reset (COM_RESET_CONNECTION,
 * COM_CHANGE_USER): nothing SET is left to carry. */
void my_iso_forget(struct my_sess *s);
/* The session's value of variable name (lowercase) when a SET changed
 * it, else NULL. */
const char *my_iso_value(const struct my_sess *s, const char *name);

/* request.c: does this statement open a transaction in session s now
 * (autocommit off, none open, my_opens_txn)? */
int my_begins_txn(const struct my_sess *s, const char *sql, size_t len);

/* frontend.c: the fingerprint of a command too big to decode */
int my_fe_statement(void *fe, char *out, size_t cap);
/* request.c: a client command as a common request (ABI 1.3) */
int my_fe_request(void *fe, const uint8_t *msg, size_t len, struct lms_request *req);
/* A binary-protocol value of MySQL type `type` (unsigned: MY_FLAG_UNSIGNED
 * in flags) at p[0..avail): its size in *used and its text (canonical
 * for numbers and date-times) in dst[0..cap), length in *n.  Returns 0, or
 * -1 when malformed or it does not fit.  Its size alone: my_binary_span. */
int my_binary_value(uint8_t type, uint32_t flags, const uint8_t *p, size_t avail, size_t *used, char *dst,
		    size_t cap, size_t *n);
/* Where a binary-protocol value of type `type` at p[0..avail) ends: its
 * size in *used and, for a length-encoded type (strings, BLOBs, DECIMAL),
 * where its bytes start in *str (so they are p[*str..*used)); *str is 0
 * for every other type.  Returns 0, or -1 when it runs past avail. */
int my_binary_span(uint8_t type, const uint8_t *p, size_t avail, size_t *used, size_t *str);

/* The backend's state (backend.c, observe.c). */
struct my_be {
	struct my_sess *s;
	int own;           /* s was allocated here (no frontend of ours) */
	int relay;         /* lms_be_opts.relay_auth */
	uint32_t tls_mode; /* the URL's ssl-mode */
	/* own login (relay == 0, auth_own.c) */
	const struct lms_backend_conf *conf; /* the URL's user and password */
	char db[256];      /* the database to log in to */
	uint8_t scramble[MY_SCRAMBLE_LEN];
	char plugin[64];   /* the authentication plugin asked for */
	char why[400];     /* why the login failed (res->error.message) */
	/* observing (lms_be_opts.observe): the packet be_decode saw last,
	 * for be_observe, and the current result set's columns */
	int observe;
	int last_kind;     /* backend.c's enum my_kind */
	int last_resp;     /* enum my_resp it was read in */
	uint8_t last_cmd;  /* the command it answers */
	struct my_col *cols;  /* MY_COLS_MAX, host->alloc */
	uint32_t ncols;    /* columns of the current result set */
	uint32_t coli;     /* definitions read so far */
	uint64_t rows;     /* rows of the current result set */
};

/* auth_own.c: the backend's own login with the URL's credentials */
#define MY_NATIVE_LEN 20u
#define MY_SHA2_LEN 32u
/* mysql_native_password's answer to scramble for pw[0..pwlen):
 * SHA1(pw) XOR SHA1(scramble || SHA1(SHA1(pw))).  Returns 0 or -1. */
int my_scramble_native(const uint8_t scramble[MY_SCRAMBLE_LEN], const char *pw, size_t pwlen,
		       uint8_t out[MY_NATIVE_LEN]);
/* caching_sha2_password's fast-path answer:
 * SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) || scramble).  Returns 0 or -1. */
int my_scramble_sha256(const uint8_t scramble[MY_SCRAMBLE_LEN], const char *pw, size_t pwlen,
		       uint8_t out[MY_SHA2_LEN]);
/* The database's greeting, decoded: the SSLRequest or HandshakeResponse
 * goes back (LMS_REPLY).  Returns 0 (a refusal sets LMS_ACT_FAIL), or -1
 * when malformed. */
int my_own_greeting(struct my_be *b, const uint8_t *msg, size_t len, struct lms_out *out, struct lms_result *res);
/* TLS is up: the HandshakeResponse into out. */
int my_own_start_tls(struct my_be *b, struct lms_out *out, struct lms_result *res);
/* A packet of the authentication exchange (OK, ERR, switch, more data). */
int my_own_auth(struct my_be *b, const uint8_t *msg, size_t len, struct lms_out *out, struct lms_result *res);
/* shadow_req.c: be_encode_request, for a shadow with its own session
 * state (a translated session's shadow toward MySQL) */
long my_be_encode_request(void *be, const struct lms_request *req, uint8_t *buf, size_t cap);

/* backend.c's packet kinds, for observe.c */
enum my_kind {
	K_NONE = 0,  /* nothing decoded yet */
	K_ROW,       /* streamed: a row */
	K_META,      /* streamed: a definition, or an EOF between them */
	K_COLCOUNT,  /* streamed: a result set's column count */
	K_END,       /* decoded: OK, EOF or ERR ending an answer (or a result) */
	K_PREP_OK,   /* decoded: COM_STMT_PREPARE's OK */
	K_INFILE,    /* decoded: LOCAL INFILE request */
	K_AUTH,      /* decoded: COM_CHANGE_USER's auth switch or more data */
	K_STATS,     /* decoded: COM_STATISTICS's string */
	K_LAST_META, /* decoded: the last definition ends the answer */
	K_BIG_ROW    /* last_kind only: a row streamed past undecoded, already
			counted (the core describes it only if it could copy it) */
};

/* observe.c: answers described for comparison (be_observe) */
int my_be_observe(void *be, const uint8_t *msg, size_t len, struct lms_event *ev, lms_value_fn emit,
		  void *ctx);
/* A text value of column c as canonical text. */
void my_value_emit(const struct my_col *c, const uint8_t *v, size_t n, lms_value_fn emit, void *ctx);

/* frontend.c */
void *my_fe_new(const struct lms_fe_opts *opts);
void my_fe_free(void *fe);
int my_fe_accept(void *fe, struct lms_out *out, struct lms_result *res);
int my_fe_frame(void *fe, const uint8_t *p, size_t avail, struct lms_frame *f);
int my_fe_decode(void *fe, const uint8_t *msg, size_t len, struct lms_out *out, struct lms_result *res);
void my_fe_tls_done(void *fe);
int my_fe_error(void *fe, const struct lms_error *err, struct lms_out *out);
int my_fe_error_in_answer(void *fe, const struct lms_error *err, struct lms_out *out);

/* backend.c */
void *my_be_new(const struct lms_be_opts *opts);
void my_be_free(void *be);
int my_be_start(void *be, int tls_active, const struct lms_startup *st, struct lms_out *out,
		struct lms_result *res);
int my_be_frame(void *be, const uint8_t *p, size_t avail, struct lms_frame *f);
int my_be_decode(void *be, const uint8_t *msg, size_t len, struct lms_out *out, struct lms_result *res);
int my_be_cancel(const uint8_t *key, size_t key_len, struct lms_out *out);

/* kill.c: KILL naming a session by the proxy's connection id */
/* 1: the command at p (payload length len, avail bytes buffered) is a
 * COM_PROCESS_KILL or a short COM_QUERY starting with KILL, to decode;
 * 0: stream it; -1: more bytes needed to tell. */
int my_kill_candidate(uint8_t cmd, const uint8_t *p, size_t avail, uint32_t len);
/* Decode such a command: commit it as frame_command commits a command,
 * and point a proxy connection id it names at that session's server
 * thread (LMS_REWRITE); anything else is forwarded as it is. */
int my_fe_kill(struct my_sess *s, const uint8_t *msg, size_t len, struct lms_out *out, struct lms_result *res);

/* login.c: the client's login verified by the plugin (own_login) */
/* The proxy's own greeting into out (a fresh scramble).  Returns 0 or -1. */
int my_login_greet(struct my_sess *s, struct lms_out *out);
/* A HandshakeResponse41 msg[0..len) (after the TLS checks): verify it, or
 * ask the client to switch to mysql_native_password.  Returns 0 (a
 * malformed one is answered with an ERR). */
int my_login_response(struct my_sess *s, const uint8_t *msg, size_t len, struct lms_out *out,
		      struct lms_result *res);
/* The client's answer to that auth switch request. */
int my_login_switch_answer(struct my_sess *s, const uint8_t *msg, size_t len, struct lms_out *out,
			   struct lms_result *res);
/* 20 fresh scramble bytes as MySQL servers make them.  Returns 0 or -1. */
int my_login_scramble(uint8_t out[MY_SCRAMBLE_LEN]);
/* Does resp[0..rlen) answer scramble for user connecting from client_ip,
 * by the verifier the core holds (credential_of) and the rules of an own
 * login?  Returns 0, else -1 with the reason in why[0..whylen). */
int my_login_check(const char *user, const char *client_ip, const uint8_t scramble[MY_SCRAMBLE_LEN],
		   const uint8_t *resp, size_t rlen, char *why, size_t whylen);
/* The database accepted the core's login: the client's OK. */
int my_fe_login_done(void *fe, struct lms_out *out);
/* mysql_native_password: does resp[0..rlen) answer scramble for the
 * verifier ("*" and 40 hex digits, SHA1(SHA1(password)); "" for no
 * password)?  Returns 0 when it does, else -1. */
int my_native_check(const uint8_t scramble[MY_SCRAMBLE_LEN], const uint8_t *resp, size_t rlen,
		    const char *verifier);

/* answer.c: answers of a database of another wire family (ABI 1.4) */
void my_fe_set_translated(void *fe);
/* ABI 1.7 (move_back.c): relay the session again after a cutover back. */
int my_fe_set_relayed(void *fe, char *why, size_t cap);
/* isolation.c (ABI 1.9): the isolation level and access mode the client
 * SET, for a new connection of a translated session. */
int my_fe_switch_state(void *fe, uint32_t k, struct lms_request *req);

/* remap.c: statement ids of a session moved back holding statements.
 * my_remap_start: at the move (fe_set_relayed), every open statement has
 * no id on the new connection yet.  my_remap_state: the PREPARE of the
 * j-th open statement for the new connection (fe_switch_state), 0 when
 * there is none.  my_remap_reprepared: its PREPARE OK named db_id.
 * my_remap_frame: a command naming a statement gets its database id as
 * the frame's patch (ABI 1.10); returns 1 when the command must be
 * decoded for my_remap_retype (an execution that does not resend its
 * parameter types, the first since the move), 0 when not, -1 when more
 * bytes are needed.  my_remap_prepare_ok: a PREPARE OK of the client's
 * own gets an id of molt-lms's (REWRITE), the database's kept. */
void my_remap_start(struct my_sess *s);
int my_remap_state(struct my_sess *s, uint32_t j, struct lms_request *req);
void my_remap_reprepared(struct my_sess *s, uint32_t id, uint32_t db_id);
int my_remap_frame(struct my_sess *s, uint8_t cmd, const uint8_t *p, size_t avail, struct lms_frame *f);
int my_remap_retype(struct my_sess *s, const uint8_t *msg, size_t len, struct lms_out *out, struct lms_result *res);
int my_remap_prepare_ok(struct my_sess *s, const uint8_t *msg, size_t len, uint32_t nparams, uint32_t ncols,
			struct lms_out *out, struct lms_result *res);
long my_fe_answer(void *fe, const struct lms_answer *ans, uint8_t *buf, size_t cap);
/* The MySQL errno for a SQLSTATE (the table in docs/mysql.md), 1105 when
 * none fits. */
uint16_t my_errno_of(const char *sqlstate);
void my_ans_free(struct my_sess *s);

/* A packet writer over buf[0..cap) with the session's sequence ids:
 * my_pk_begin reserves the header, my_pk_end fills it with s->to_client
 * (then incremented).  Overflow sets bad. */
struct my_pk {
	uint8_t *buf;
	size_t cap, len, at;
	int bad;
};
void my_pk_begin(struct my_pk *w);
void my_pk_end(struct my_pk *w, struct my_sess *s);
void my_pk_bytes(struct my_pk *w, const void *p, size_t n);
void my_pk_u8(struct my_pk *w, uint8_t v);
void my_pk_le(struct my_pk *w, uint64_t v, size_t n);
void my_pk_lenenc(struct my_pk *w, uint64_t v);
void my_pk_lenstr(struct my_pk *w, const void *p, size_t n);
/* A column definition (protocol 4.1) named name[0..nl) of MySQL type,
 * charset, length, flags and decimals. */
void my_pk_coldef(struct my_pk *w, struct my_sess *s, const char *name, size_t nl, uint8_t type,
		  uint16_t charset, uint32_t length, uint16_t flags, uint8_t decimals);
/* EOF (unless CLIENT_DEPRECATE_EOF) after definitions. */
void my_pk_defs_end(struct my_pk *w, struct my_sess *s, uint16_t status);
/* OK (ok != 0) or the end of a result set (EOF, or OK 0xFE with
 * CLIENT_DEPRECATE_EOF) with these status flags. */
void my_pk_ok(struct my_pk *w, struct my_sess *s, int result_end, uint64_t affected, uint64_t insert_id,
	      uint16_t status);
void my_pk_err(struct my_pk *w, struct my_sess *s, uint16_t code, const char *sqlstate, const char *msg);

/* local.c: what LMS answers itself in a translated session */
/* The local class of a command payload pl[0..n) (COM_QUERY or
 * COM_INIT_DB), MY_L_NONE when the database must answer it.  The text
 * (after the command byte) is kept with the queued command (its prep)
 * for the answer. */
uint8_t my_local_class(const uint8_t *pl, size_t n);
/* Write the answer of command c (local class c->local, text c->prep)
 * into w; status: the server status flags to report. */
void my_local_answer(struct my_sess *s, const struct my_cmd *c, struct my_pk *w, uint16_t status);

/* cmds.c: commands beyond queries in a translated session (and the long
 * data every decoded session keeps) */
/* A decoded COM_STMT_SEND_LONG_DATA pl[0..n): keep its chunk. */
void my_long_data_add(struct my_sess *s, const uint8_t *pl, size_t n);
/* A COM_STMT_SEND_LONG_DATA that was not decoded (streamed, or dropped in
 * a translated session): its statement's next execution cannot be
 * described.  p[0..avail) holds its first bytes. */
void my_long_data_lost(struct my_sess *s, const uint8_t *p, size_t avail);
/* The execution of st just decoded takes its long data (s->exec_ld), as
 * MySQL forgets it once a statement runs.  Returns 1 when some was lost
 * or too big (the execution cannot be described), else 0. */
int my_long_data_take(struct my_sess *s, struct my_stmt *st);
/* Free the statement's long data and cursor. */
void my_stmt_extras_free(struct my_sess *s, struct my_stmt *st);
/* Free s->exec_ld. */
void my_exec_ld_free(struct my_sess *s);
/* Translated: a command fe_decode just committed (the queue's last entry
 * when answered), payload pl[0..n), on statement st (or NULL), whose
 * long data was lost or too big (long_over): mark what LMS answers
 * itself (s->local_req). */
void my_cmd_decoded(struct my_sess *s, struct my_stmt *st, const uint8_t *pl, size_t n, int long_over);
/* Translated: the client's answer msg[0..len) to our COM_CHANGE_USER
 * switch request: verified; OK after a round trip, or ERR and close. */
int my_change_user_answer(struct my_sess *s, const uint8_t *msg, size_t len, struct lms_out *out,
			  struct lms_result *res);
/* Translated: the COM_CHANGE_USER just decoded was refused, and no other
 * answer is owed: ERR in out, and the connection ends (as after a failed
 * login).  Returns 0. */
int my_change_user_refuse_now(struct my_sess *s, struct lms_out *out, struct lms_result *res);
/* A relayed COM_CHANGE_USER's user and database, into s->cu_user and
 * s->cu_db.  Returns 0, or -1 when malformed. */
int my_change_user_names(struct my_sess *s, const uint8_t *pl, size_t n);
/* The session's user (login_user) and database (db) in res->startup,
 * after a change of user was accepted: the core names the session so
 * (ABI 1.9). */
void my_name_session(struct my_sess *s, struct lms_result *res);
/* Write the answer of a command of class MY_L_STATISTICS and after. */
void my_cmd_answer(struct my_sess *s, const struct my_cmd *c, struct my_pk *w, uint16_t status);
/* Translated cursor execution: the result set's definitions w->buf[at..)
 * just written are kept; the rows likewise; READY sends what the client
 * gets.  Each returns 0 or -1. */
int my_cursor_defs(struct my_sess *s, struct my_pk *w, size_t at);
int my_cursor_row(struct my_sess *s, struct my_pk *w, size_t at);
void my_cursor_ready(struct my_sess *s, struct my_pk *w, uint16_t status);
void my_cursor_drop(struct my_sess *s);

/* url.c */
int my_parse_url(const char *url, struct lms_backend_conf *conf, char *err, size_t errlen);

/* entry.c: fill d (idempotent) and keep host; NULL when host is unusable */
const struct lms_dialect *my_entry(const struct lms_host_api *host, struct lms_dialect *d);

#endif /* LMS_MYSQL_H */
