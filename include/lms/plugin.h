/*
 * lms/plugin.h - the one ABI between the molt-lms core and a dialect plugin.
 *
 * A plugin is a shared object that exports exactly one symbol,
 * lms_dialect_entry(), which returns a constant table of functions (struct
 * lms_dialect).  The core does every byte of I/O; a plugin only looks at
 * buffers the core hands it and answers with a verdict and an action.
 *
 * This header is self-contained: it names no libevent, OpenSSL or jansson
 * type, so a third-party dialect can be built against the installed copy.
 *
 * Versioning: LMS_PLUGIN_ABI_MAJOR changes when an existing member changes
 * meaning or position; the core refuses a plugin with another major.  New
 * members are only ever appended (taking a reserved slot); the plugin
 * reports sizeof(struct lms_dialect) it was built with, and the core treats
 * members beyond that size as absent.  docs/plugin-abi.md explains how a
 * dialect maps onto this table, including MySQL.
 */
#ifndef LMS_PLUGIN_H
#define LMS_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LMS_PLUGIN_ABI_MAJOR 1
#define LMS_PLUGIN_ABI_MINOR 10

/* Largest message a plugin may ask to see whole (LMS_FRAME_NEED_BODY).
 * Bigger messages are always streamed through without being decoded. */
#define LMS_DECODE_MAX (32u * 1024u)

/* ABI 1.6: in a translated session (fe_set_translated; and the answers of
 * its source of truth) the core assembles a message of up to this size
 * whole, from memory shared by all sessions (--translate-memory), before
 * it calls fe_request / be_answer; a bigger one (or one the memory cannot
 * hold) ends the session with an error. */
#define LMS_TRANSLATE_MAX (16u * 1024u * 1024u + 4u)

/* Room the core gives a plugin to write replacement or reply bytes. */
#define LMS_OUT_MAX 8192u

/* Largest opaque cancel key a backend may report. */
#define LMS_KEY_MAX 32u

/* ---- Values a plugin returns ------------------------------------------ */

enum lms_frame_status {
	LMS_FRAME_OK = 0,        /* header complete: see struct lms_frame */
	LMS_FRAME_NEED_MORE = 1, /* not enough bytes to know the length yet */
	LMS_FRAME_INVALID = 2    /* malformed: the core closes the connection */
};

/* What one framed message is, as far as the core cares (accounting,
 * request boundaries, closing). */
enum lms_msg_kind {
	LMS_MSG_OTHER = 0,
	/* client -> server */
	LMS_MSG_STARTUP,     /* pre-authentication negotiation */
	LMS_MSG_AUTH,        /* an answer in the authentication exchange */
	LMS_MSG_QUERY,       /* a complete request that ends in READY */
	LMS_MSG_EXTENDED,    /* part of a pipelined request (parse/bind/...) */
	LMS_MSG_SYNC,        /* ends a pipelined request; answered by READY */
	LMS_MSG_COPY,        /* bulk data inside a COPY */
	LMS_MSG_TERMINATE,   /* the client says goodbye */
	/* server -> client */
	LMS_MSG_AUTH_REQUEST,
	LMS_MSG_ROW,
	LMS_MSG_COMPLETE,
	LMS_MSG_ERROR,
	LMS_MSG_NOTICE,
	LMS_MSG_READY,
	LMS_MSG_ASYNC        /* notifications, parameter status, ... */
};

/* struct lms_frame.flags */
#define LMS_FRAME_NEED_BODY 0x1u    /* call decode() with the whole message */
#define LMS_FRAME_ENDS_REQUEST 0x2u /* this message will be answered by READY */
#define LMS_FRAME_ENDS_ANSWER 0x4u  /* ABI 1.3, be: this message (not of kind
				       LMS_MSG_READY) may end an answer with
				       LMS_ACT_READY (MySQL's OK, EOF, ERR):
				       the sync modes hold it as a READY */
#define LMS_FRAME_NO_ANSWER 0x8u    /* ABI 1.7, fe: a message between
				       requests that gets no answer (MySQL's
				       COM_STMT_CLOSE): it opens no request,
				       so the message after it starts one
				       (held by a cutover's pause, sent to
				       the source of truth of then) */

#define LMS_PATCH_MAX 8u /* bytes of a frame's patch (ABI 1.10) */

struct lms_frame {
	uint64_t len;  /* whole message length, header included (>= 1) */
	uint32_t kind; /* enum lms_msg_kind */
	uint32_t flags;
	/* ABI 1.10, fe_frame only (never written for an older core): put
	 * patch[0..patch_len) in place of the message's bytes at patch_at
	 * where the core passes the message on as it is (forwarded whole or
	 * streamed), e.g. MySQL's statement id in a command once the session
	 * has another connection than the one that gave out the ids.
	 * Those bytes must be within avail.  fe_decode still reads the
	 * original bytes, and so does a shadow; a REWRITE, REPLY or DROP
	 * verdict drops the patch.  The core zeroes these before each call. */
	uint32_t patch_at;
	uint32_t patch_len; /* 0: none; at most LMS_PATCH_MAX */
	uint8_t patch[LMS_PATCH_MAX];
};

/* What the core does with the message that was decoded. */
enum lms_verdict {
	LMS_FORWARD = 0, /* pass the original bytes to the peer */
	LMS_DROP,        /* swallow it */
	LMS_REWRITE,     /* send out->data to the peer instead of it */
	LMS_REPLY        /* send out->data back to the sender, forward nothing */
};

/* What the core must do next. */
enum lms_action {
	LMS_ACT_NONE = 0,
	LMS_ACT_START_TLS,   /* fe: flush the reply, then the TLS handshake as
				server; be: the TLS handshake as client (a
				REPLY is not sent first).  Any byte already
				received past this message is a protocol error,
				except (ABI 1.2) from a client whose TLS request
				got no REPLY: then those bytes are its TLS
				handshake. */
	LMS_ACT_CONNECT,     /* fe: startup parameters known (res->startup);
				connect the backend. */
	LMS_ACT_CANCEL,      /* fe: cancel the query of the session whose proxy
				key is res->key; then close this connection. */
	LMS_ACT_AUTH_OK,     /* be: authentication accepted */
	LMS_ACT_BACKEND_KEY, /* be: the backend's cancel key is res->key */
	LMS_ACT_READY,       /* be: idle, res->txn tells the transaction state */
	LMS_ACT_CLOSE,       /* flush, then close this connection */
	LMS_ACT_FAIL,        /* be: give up on this backend; res->error says
				why; the core tells the client and closes */
	LMS_ACT_BACKEND_TLS  /* ABI 1.2, fe, during the login of a
				server-first protocol (MySQL): send the
				verdict's bytes (REWRITE: the database's TLS
				request) in clear, run the TLS handshake with
				the database as client (the URL's settings),
				then call be_start(tls_active=1).  Any byte
				already received from the database is a
				protocol error. */
};

enum lms_txn_state {
	LMS_TXN_IDLE = 0,
	LMS_TXN_OPEN = 1,
	LMS_TXN_FAILED = 2
};

/* An error the core wants sent to the client, or a plugin reports. */
struct lms_error {
	const char *severity; /* "ERROR" or "FATAL" */
	const char *sqlstate; /* five characters */
	const char *message;
	const char *hint;     /* may be NULL */
};

/* Startup parameters the client sent, for the backend plugin.  Pointers
 * are valid until the backend's start() returns; raw is the client's own
 * startup message, usable as-is when families match (fast path). */
struct lms_startup {
	const char *family;
	const char *user;
	const char *database;
	const uint8_t *raw;
	size_t raw_len;
};

/* Filled by decode(). */
struct lms_result {
	uint32_t verdict;  /* enum lms_verdict */
	uint32_t action;   /* enum lms_action */
	uint32_t txn;      /* enum lms_txn_state, with LMS_ACT_READY */
	char sqlstate[6];  /* with LMS_MSG_ERROR messages, "" if unknown */
	uint8_t key[LMS_KEY_MAX]; /* CANCEL: proxy key; BACKEND_KEY: backend's */
	uint32_t key_len;
	struct lms_startup startup;   /* with LMS_ACT_CONNECT; ABI 1.2: from
					 fe_decode without CONNECT (a
					 server-first login), user and
					 database name the session in logs
					 and the admin API */
	struct lms_error error;       /* with LMS_ACT_FAIL */
	/* ABI 1.1, filled by fe_decode when the core observes the frontend
	 * (lms_fe_opts.observe): the statement this client message runs,
	 * prepares or binds, as a fingerprint (literals replaced by '?',
	 * whitespace collapsed), NUL-terminated, owned by the plugin and
	 * valid until the next call on this frontend.  NULL when the message
	 * names no statement. */
	const char *fingerprint;
	uint32_t stmt_flags;          /* LMS_STMT_* for that statement */
};

/* struct lms_result.stmt_flags (ABI 1.1) */
#define LMS_STMT_ORDERED 0x1u /* has ORDER BY: rows are compared in order,
				 otherwise as a multiset */
#define LMS_STMT_SETTING 0x2u /* changes a session setting (SET ...): a
				 refusal by the other database is counted
				 and logged, not reported as a mismatch */
#define LMS_STMT_OVERSIZED 0x4u /* the message was too big to decode: the
				   core names the statement itself */
#define LMS_STMT_BEGIN 0x10u  /* opens a transaction block (BEGIN, START
				 TRANSACTION): a request with it may leave
				 locks held for the requests that follow */
#define LMS_STMT_REPLAY 0x8u  /* the message only changes the session's state
				 (creates or closes a named prepared statement,
				 a session-level SET/RESET, PREPARE, DEALLOCATE,
				 LISTEN...): the core keeps it and replays it,
				 in order, on a connection that replaces this
				 one (a cutover).  Never set on a message that
				 runs a statement with other effects. */
#define LMS_STMT_LOCAL 0x20u  /* (ABI 1.10) a database of another wire family
				 never runs it: the plugin answers it itself
				 there (a connector's start-up query, such as
				 MySQL's SELECT @@version_comment), and its
				 fe_request describes something else for it
				 (a PING).  A shadow of another family does not
				 compare its answer: counted as "local". */

/* Bytes a plugin writes: replies, rewrites, startup and cancel packets. */
struct lms_out {
	uint8_t data[LMS_OUT_MAX];
	size_t len;
};

/* ---- Configuration handed to a plugin ------------------------------- */

enum lms_tls_mode {
	LMS_TLS_DISABLE = 0,
	LMS_TLS_PREFER,       /* try TLS, fall back to plain */
	LMS_TLS_REQUIRE,      /* TLS, no verification */
	LMS_TLS_VERIFY_CA,    /* TLS, chain checked against rootcert */
	LMS_TLS_VERIFY_FULL   /* TLS, chain and host name checked */
};

/* A backend parsed from a connection URL (INIT_SOURCE / INIT_TARGET).
 * Strings are owned by the core after parse_url() returns (allocated with
 * host->alloc, freed with host->free). */
struct lms_backend_conf {
	char *host;
	char *port;
	char *user;
	char *password;
	char *database;
	uint32_t tls_mode; /* enum lms_tls_mode */
	char *tls_root_cert;
	char *tls_cert;
	char *tls_key;
};

/* Per client connection, for fe_new(). */
struct lms_fe_opts {
	int tls_available; /* the proxy has a certificate */
	int tls_required;  /* refuse clients that do not use TLS */
	uint8_t proxy_key[8]; /* this session's cancel key, chosen by the core */
	/* ABI 1.1: what the core wants to know about the client's messages.
	 * LMS_OBSERVE_FULL (shadowing): fe_frame flags every message that
	 * runs, prepares or binds a statement NEED_BODY (when it fits
	 * LMS_DECODE_MAX), and fe_decode names it in res->fingerprint with
	 * its LMS_STMT_* flags.  LMS_OBSERVE_STATE (cheaper: no fingerprints):
	 * only the messages that may change the session's state are decoded,
	 * for LMS_STMT_REPLAY and LMS_STMT_BEGIN.  0: nothing. */
	int observe;
	/* ABI 1.4: the session may become translated (a cutover to a source
	 * of truth of another wire family, fe_set_translated): keep what
	 * serving it then needs, e.g. the text of every prepared statement.
	 * Read only by a plugin built for 1.4 or later from a core that
	 * reports abi_minor >= 4. */
	int keep_statements;
	/* ABI 1.4: the source of truth speaks another wire family than the
	 * clients, so the client's login cannot be relayed to it: the plugin
	 * greets the client itself, verifies its answer against the
	 * verifiers the core offers (lms_host_api.credential_of, looked up
	 * with client_ip), asks for LMS_ACT_CONNECT only once it is verified
	 * (the core then logs in to the database with the URL's
	 * credentials), and answers the client's login in fe_login_done. */
	int own_login;
	char client_ip[48]; /* the client's address as text ("" unknown) */
};

#define LMS_OBSERVE_FULL 1
#define LMS_OBSERVE_STATE 2

/* Per backend connection, for be_new(). */
struct lms_be_opts {
	const struct lms_backend_conf *conf;
	uint8_t proxy_key[8]; /* rewrite the backend's cancel key into this */
	int relay_auth;       /* 1: the client authenticates through us */
	/* The session's frontend state when the client's dialect is this same
	 * plugin (e.g. a MySQL backend needs to know which command it is
	 * answering), else NULL.  Borrowed: valid for the session's life. */
	void *fe_state;
	/* ABI 1.1: the core compares this backend's results.  be_frame flags
	 * every message be_observe describes (result columns, rows, command
	 * completion, errors, parameter status) NEED_BODY when it fits
	 * LMS_DECODE_MAX; bigger ones stream through undecoded, with their
	 * kind set (a row too big to decode is copied and described whole
	 * when the core's memory allows, else its values are not compared). */
	int observe;
};

/* Services the core offers a plugin. */
struct lms_host_api {
	uint32_t abi_major;
	uint32_t abi_minor;
	uint32_t size;  /* sizeof(struct lms_host_api) in the core */
	void (*log)(int level, const char *fmt, ...);
	void *(*alloc)(size_t n);
	void (*free)(void *p);
	char *(*strdup)(const char *s);

	/* ---- ABI 1.3: KILL by the proxy's connection id (mysql.so) ----
	 * Present when abi_minor >= 3 and size covers it (LMS_HOST_HAS). */

	/* The backend cancel key (reported with LMS_ACT_BACKEND_KEY) of the
	 * live session whose proxy key begins with prefix[0..len), len 4 to
	 * 8: MySQL clients know a session by the 4 bytes of the connection
	 * id in its greeting.  Copies the key (at most LMS_KEY_MAX bytes)
	 * into key and its length into *key_len.  Returns 0, or -1 when no
	 * session, or more than one, has that prefix.  Any worker may call
	 * it, from any plugin function. */
	int (*backend_key_of)(const uint8_t *prefix, size_t len, uint8_t *key, size_t *key_len);

	/* ---- ABI 1.4: logins verified by LMS (lms_fe_opts.own_login) ----
	 * The verifier of user connecting from client_ip (text, as in
	 * lms_fe_opts.client_ip), from the copy of the coordination store's
	 * _molt_lms.credentials the core keeps: its plugin name into
	 * plugin[0..pcap) and its verifier into verifier[0..vcap), both
	 * NUL-terminated.  The row is chosen as MySQL chooses a user@host
	 * account (docs/mysql-auth.md): the user name must match exactly;
	 * among the hosts that match the client (the same address; 'localhost'
	 * for a loopback client; a pattern with % and _; '%' alone), the most
	 * specific wins.  Returns 0; -1 when no row matches; -2 when the core
	 * holds no copy (the store was not read, or has no such table); -3
	 * when a value does not fit.  Any worker may call it. */
	int (*credential_of)(const char *user, const char *client_ip, char *plugin, size_t pcap, char *verifier,
			     size_t vcap);
};

/* Does the core's host API h have member m (a later ABI minor)? */
#define LMS_HOST_HAS(h, m) \
	((h)->size >= offsetof(struct lms_host_api, m) + sizeof((h)->m) && (h)->m != NULL)

#define LMS_LOG_ERROR 0
#define LMS_LOG_WARN 1
#define LMS_LOG_INFO 2
#define LMS_LOG_DEBUG 3

/* ---- Comparison (ABI 1.1) ---------------------------------------------- */

/* What a server message means when two databases' answers are compared. */
enum lms_event_kind {
	LMS_EV_NONE = 0,  /* nothing to compare (notices, keys, auth, ...) */
	LMS_EV_COLUMNS,   /* a result set starts: ncols */
	LMS_EV_ROW,       /* one row: ncols, values through emit() */
	LMS_EV_COMPLETE,  /* a statement finished: tag, rows if ROWS_KNOWN */
	LMS_EV_ERROR,     /* the statement failed: sqlstate, text (message) */
	LMS_EV_READY,     /* the request ended: txn */
	LMS_EV_PARAM      /* a server parameter: tag (its name), text (value) */
};

/* struct lms_event.flags */
#define LMS_EV_TRANSIENT 0x1u  /* ERROR: retryable (serialization failure,
				  CockroachDB's restart): counted apart,
				  never reported as a mismatch */
#define LMS_EV_ROWS_KNOWN 0x2u /* COMPLETE: rows is the statement's count */

#define LMS_TAG_MAX 32u
#define LMS_EV_TEXT_MAX 256u

/* Filled by be_observe(); the core zeroes it before each call. */
struct lms_event {
	uint32_t kind;    /* enum lms_event_kind */
	uint32_t flags;   /* LMS_EV_* */
	uint32_t ncols;   /* COLUMNS and ROW */
	uint32_t txn;     /* READY: enum lms_txn_state */
	uint64_t rows;    /* COMPLETE with ROWS_KNOWN: rows affected/returned */
	char tag[LMS_TAG_MAX];      /* COMPLETE: the command word(s) without
				       counts ("INSERT", "CREATE TABLE");
				       PARAM: the parameter's name */
	char sqlstate[6];           /* ERROR: five characters */
	char text[LMS_EV_TEXT_MAX]; /* ERROR: the message; PARAM: the value
				       (both cut to fit, NUL-terminated) */
};

/* Receives one value of a row as canonical text: equal values give equal
 * bytes whatever the database, the column's type width (int4 5 and int8
 * 5) or the wire format (text or binary).  data is NULL for SQL NULL. */
typedef void (*lms_value_fn)(void *ctx, const uint8_t *data, size_t len);

/* ---- Translation between wire families (ABI 1.3) ------------------ */

/* A client request in a form every backend can encode, for a shadow whose
 * wire family differs from the client's.  Application SQL is carried as
 * written: only the protocol is translated, never the dialect. */
enum lms_req_kind {
	LMS_REQ_NONE = 0,    /* nothing to send for this message */
	LMS_REQ_QUERY,       /* sql: run it, answer with its results */
	LMS_REQ_PREPARE,     /* sql with holes: check it prepares, no result */
	LMS_REQ_EXECUTE,     /* sql with holes and params: run it once */
	LMS_REQ_CLOSE,       /* stmt_id is forgotten: no answer expected */
	LMS_REQ_PING,        /* a round trip that changes nothing */
	LMS_REQ_RESET,       /* forget the session's state (statements, ...) */
	LMS_REQ_UNSUPPORTED, /* a message with no translation: the core does
				not compare this request (ABI 1.4, serving:
				answers the client with an error itself) */
	LMS_REQ_DESCRIBE     /* ABI 1.4, serving: sql with holes: prepare it
				and describe its parameters and result columns
				(answers PARSED, PARAMS, COLUMNS or NODATA) */
};

/* One bound parameter as text (the database infers its type from the
 * statement); data is NULL for SQL NULL. */
struct lms_param {
	const uint8_t *data;
	uint32_t len;
};

#define LMS_REQ_HOLES_MAX 4096u  /* placeholders and parameters per request */

/* Filled by fe_request(); pointers are owned by the frontend and valid
 * until its next call. */
struct lms_request {
	uint32_t kind;               /* enum lms_req_kind */
	uint32_t stmt_id;            /* PREPARE/EXECUTE/CLOSE: the client's id */
	const char *sql;             /* QUERY, PREPARE, EXECUTE */
	size_t sql_len;
	const uint32_t *holes;       /* byte offsets of one-byte parameter
					placeholders in sql, ascending: the
					encoder writes its own syntax there */
	uint32_t nholes;
	const struct lms_param *params; /* EXECUTE: one per hole */
	uint32_t nparams;
	uint32_t flags;              /* LMS_REQ_* below (ABI 1.5; 0 before) */
	const char *other_sql;       /* ABI 1.9, QUERY: the statement as a
					database of the other wire family
					must run it, where the client's own
					text would not do what the client
					asked (MySQL's SET SESSION TRANSACTION
					ISOLATION LEVEL ...); NULL: sql serves
					both.  An encoder of the client's own
					family ignores it. */
	size_t other_sql_len;
};

/* struct lms_request.flags (ABI 1.5): what the client's protocol promises
 * about transactions, kept by a database that behaves otherwise (a
 * PostgreSQL-wire backend emulates them with savepoints).
 *
 * STMT_ATOMIC   a statement that fails inside a transaction undoes only
 *               itself and the transaction stays open; after an error of
 *               SQLSTATE class 40 (deadlock, serialization failure) the
 *               whole transaction is rolled back and is over (InnoDB).
 * COMMIT_FIRST  an open transaction is committed before this request
 *               runs (MySQL's implicit commit: BEGIN, DDL).
 * COMMIT        the request commits: if the database rolls back instead
 *               (the transaction had failed), the client gets an error,
 *               never a success.
 * READ          the request only reads: it takes no lock and writes
 *               nothing (a backend need not mark the state before it
 *               when nothing changed since its last mark).
 * INSERT_ID     (ABI 1.6) the client's protocol reports the key an INSERT
 *               generated (MySQL's last insert id): a backend that can
 *               find it sets LMS_ANS_INSERT_ID on the statement's
 *               COMPLETE, with insert_id the key of its first row. */
#define LMS_REQ_STMT_ATOMIC 0x1u
#define LMS_REQ_COMMIT_FIRST 0x2u
#define LMS_REQ_COMMIT 0x4u
#define LMS_REQ_READ 0x8u
#define LMS_REQ_INSERT_ID 0x10u
/* BEGIN_FIRST   (ABI 1.8) the client's session has autocommit off and no
 *               transaction is open: this statement opens one, which
 *               lasts until the client commits or rolls back (MySQL's
 *               autocommit=0).  A backend whose database commits each
 *               statement by itself begins a transaction first. */
#define LMS_REQ_BEGIN_FIRST 0x20u

/* ---- Serving answers across wire families (ABI 1.4) -------------- */

/* A portable class for a result column's type: enough for a frontend to
 * choose its own type, flags and value form. */
enum lms_type_class {
	LMS_TC_OTHER = 0,   /* anything else: values as the database prints them */
	LMS_TC_TEXT,        /* character strings */
	LMS_TC_BOOL,        /* values "t" or "f" */
	LMS_TC_INT,         /* size: 2, 4 or 8 bytes; values in decimal */
	LMS_TC_FLOAT,       /* size: 4 or 8 bytes; "NaN", "Infinity" as printed */
	LMS_TC_DECIMAL,     /* exact numbers, values as printed ("1.50" stays) */
	LMS_TC_BYTES,       /* binary strings: values are the bytes themselves */
	LMS_TC_DATE,        /* "YYYY-MM-DD" (ISO) */
	LMS_TC_TIME,        /* "HH:MM:SS[.ffffff]" */
	LMS_TC_TIMESTAMP,   /* "YYYY-MM-DD HH:MM:SS[.ffffff]" */
	LMS_TC_TIMESTAMPTZ, /* the same, then the zone offset "+HH[:MM]" */
	LMS_TC_JSON,
	LMS_TC_UUID
};

/* One result column (be_answer, LMS_ANS_COLUMNS).  The name points into
 * the message or the backend's state: valid until its next call. */
struct lms_column {
	const char *name;     /* not NUL-terminated */
	uint32_t name_len;
	uint32_t type_class;  /* enum lms_type_class */
	uint32_t size;        /* INT, FLOAT: width in bytes; else 0 */
	int32_t length;       /* TEXT, BYTES: declared length in characters
				 (varchar(20): 20); DECIMAL: precision;
				 -1 when not declared */
	int32_t scale;        /* DECIMAL: digits after the point; TIME,
				 TIMESTAMP(TZ): fractional digits; -1 when
				 not declared */
};

/* What a server message means for a client of another wire family. */
enum lms_answer_kind {
	LMS_ANS_NONE = 0,   /* nothing for the client (notices, parameters,
			       bind acknowledgements, ...) */
	LMS_ANS_COLUMNS,    /* a result set starts: n columns in cols */
	LMS_ANS_ROW,        /* one row: n values in values */
	LMS_ANS_COMPLETE,   /* a statement finished: tag, rows if ROWS_KNOWN
			       (an empty query: tag "") */
	LMS_ANS_ERROR,      /* the statement failed: sqlstate, text (message) */
	LMS_ANS_READY,      /* the request ended: txn */
	LMS_ANS_PARAMS,     /* a prepared statement takes n parameters */
	LMS_ANS_NODATA,     /* a prepared statement returns no rows */
	LMS_ANS_PARSED      /* a statement was prepared */
};

/* struct lms_answer.flags */
#define LMS_ANS_ROWS_KNOWN 0x2u /* COMPLETE: rows is the statement's count */
#define LMS_ANS_REPLACES 0x4u   /* ERROR made by the core (strict-sync): it
				   takes the place of the answer's end */
#define LMS_ANS_INSERT_ID 0x8u  /* COMPLETE (ABI 1.6): insert_id is the key
				   the statement generated (LMS_REQ_INSERT_ID);
				   a plugin sets it only when the host's
				   abi_minor >= 6 (the field is new) */

/* Filled by be_answer(); the core zeroes it before each call.  cols and
 * values are owned by the backend (or point into the message) and are
 * valid until its next call. */
struct lms_answer {
	uint32_t kind;    /* enum lms_answer_kind */
	uint32_t flags;   /* LMS_ANS_* */
	uint32_t n;       /* COLUMNS, ROW: columns; PARAMS: parameters */
	uint32_t txn;     /* READY: enum lms_txn_state */
	uint64_t rows;    /* COMPLETE with ROWS_KNOWN */
	char tag[LMS_TAG_MAX];      /* COMPLETE: command word(s), no counts */
	char sqlstate[6];           /* ERROR */
	char text[LMS_EV_TEXT_MAX]; /* ERROR: the message, cut to fit */
	const struct lms_column *cols; /* COLUMNS */
	const struct lms_param *values; /* ROW: data NULL for SQL NULL; as
					   struct lms_column's class says */
	uint64_t insert_id; /* COMPLETE with LMS_ANS_INSERT_ID (ABI 1.6) */
};

/* ---- The table ------------------------------------------------------- */

struct lms_dialect {
	uint32_t abi_major;
	uint32_t abi_minor;
	uint32_t size;        /* sizeof(struct lms_dialect) in the plugin */
	const char *name;     /* "postgres", "cockroach", "mysql" */
	const char *family;   /* wire family: "pgwire", "mysql" */
	const char *version;  /* plugin version string */

	/* Parse a connection URL into conf.  Returns 0, or -1 with a message
	 * in err (that never contains the password). */
	int (*parse_url)(const char *url, struct lms_backend_conf *conf,
			 char *err, size_t errlen);

	/* Optional, --check-config only: log in to conf and run a trivial
	 * query, blocking.  Returns 0, or -1 with a message in err. */
	int (*check_backend)(const struct lms_backend_conf *conf, char *err,
			     size_t errlen);

	/* Frontend: the application's side.  fe_new returns per-connection
	 * state owned by the core (freed with fe_free), NULL when out of
	 * memory. */
	void *(*fe_new)(const struct lms_fe_opts *opts);
	void (*fe_free)(void *fe);
	/* Called once on accept.  Server-first protocols write a greeting
	 * into out (or ask for LMS_ACT_CONNECT to relay the server's).
	 * Returns 0 or -1. */
	int (*fe_accept)(void *fe, struct lms_out *out, struct lms_result *res);
	/* Frame the next client message from p[0..avail). */
	int (*fe_frame)(void *fe, const uint8_t *p, size_t avail,
			struct lms_frame *f);
	/* Decode one whole message (flagged NEED_BODY).  Returns 0, or -1
	 * when the message is malformed (the core closes the connection). */
	int (*fe_decode)(void *fe, const uint8_t *msg, size_t len,
			 struct lms_out *out, struct lms_result *res);
	/* The TLS handshake requested by LMS_ACT_START_TLS completed. */
	void (*fe_tls_done)(void *fe);
	/* Encode an error for the client.  Returns 0 or -1. */
	int (*fe_error)(void *fe, const struct lms_error *err,
			struct lms_out *out);

	/* Backend: one connection to a database. */
	void *(*be_new)(const struct lms_be_opts *opts);
	void (*be_free)(void *be);
	/* Connected (tls_active=0) or TLS established (tls_active=1): write
	 * the first bytes to send (TLS negotiation or startup).  res->action
	 * may be NONE or FAIL (TLS starts from a decoded server answer).
	 * Returns 0 or -1. */
	int (*be_start)(void *be, int tls_active,
			const struct lms_startup *startup, struct lms_out *out,
			struct lms_result *res);
	int (*be_frame)(void *be, const uint8_t *p, size_t avail,
			struct lms_frame *f);
	int (*be_decode)(void *be, const uint8_t *msg, size_t len,
			 struct lms_out *out, struct lms_result *res);
	/* Encode a cancel request for a backend key.  Returns 0 or -1. */
	int (*be_cancel)(const uint8_t *key, size_t key_len,
			 struct lms_out *out);

	/* ABI 1.1, required for shadowing (the core refuses a shadowMode
	 * other than none when a backend's plugin lacks it): describe one
	 * whole server message framed NEED_BODY because the core observes
	 * this backend (it may also be called on messages be_decode saw).
	 * For a row, call emit(ctx, ...) once per column, in order.  Returns
	 * 0, or -1 when the message is malformed. */
	int (*be_observe)(void *be, const uint8_t *msg, size_t len,
			  struct lms_event *ev, lms_value_fn emit, void *ctx);

	/* ABI 1.1, optional: the core tells an observing backend about a
	 * whole client message it just queued for this backend, for each
	 * message the frontend framed NEED_BODY in observe mode (Parse, Bind,
	 * Describe, Execute, Close, Sync, Query when small enough), in the
	 * order they are sent.  The plugin keeps what it needs to interpret
	 * the answers (statement and portal result types and formats: a
	 * prepared statement's rows carry no RowDescription of their own).
	 * Never fails; bytes it does not understand are ignored. */
	void (*be_note_request)(void *be, const uint8_t *msg, size_t len);

	/* ABI 1.1, optional: the fingerprint of the latest statement the
	 * client sent, written into out (NUL-terminated, at most cap bytes),
	 * computed now; for LMS_OBSERVE_STATE, where fe_decode names none
	 * (the core asks only when an operator lists connections), and for a
	 * message too big to decode, named from the bytes fe_frame saw of it
	 * (the core asks right after framing it).  Returns
	 * 0, or -1 when the plugin knows no statement. */
	int (*fe_statement)(void *fe, char *out, size_t cap);

	/* ---- 1.3 translation ----
	 * Both optional; the core uses them only when a shadow backend's
	 * wire family differs from the clients' (instead of forwarding the
	 * client's bytes), and refuses a shadowMode other than none when
	 * either is absent.  fe_request describes one whole client message
	 * fe_decode just saw (framed NEED_BODY in LMS_OBSERVE_FULL): returns
	 * 0, or -1 when it is malformed.  be_encode_request writes req in the
	 * backend's protocol into buf[0..cap), keeping whatever it needs to
	 * read the answers (the answer ends with LMS_ACT_READY unless the
	 * kind is NONE or CLOSE); returns the length, or -1 when it does not
	 * fit or cannot be encoded (the request is then not compared). */
	int (*fe_request)(void *fe, const uint8_t *msg, size_t len, struct lms_request *req);
	long (*be_encode_request)(void *be, const struct lms_request *req, uint8_t *buf, size_t cap);
	/* Optional: encode an error that takes the place of the message that
	 * ended the answer just decoded (a backend message flagged
	 * LMS_FRAME_ENDS_ANSWER; strict-sync, when only the other database
	 * failed): e.g. MySQL's ERR with the sequence id of the OK/EOF it
	 * replaces.  Without it the core sends fe_error's bytes before that
	 * message.  Returns 0 or -1. */
	int (*fe_error_in_answer)(void *fe, const struct lms_error *err, struct lms_out *out);

	/* ---- 1.4 serving across wire families ----
	 * All three optional; the core refuses a cutover to a source of truth
	 * of another wire family than the clients' unless the frontend has
	 * fe_set_translated and fe_answer (and 1.3's fe_request) and the
	 * target's plugin be_answer (and be_encode_request).  A translated
	 * session's client messages are framed and decoded whole, described
	 * by fe_request and written by be_encode_request; every message of
	 * its source of truth is decoded whole (be_decode, then be_answer)
	 * and fe_answer writes what the client gets instead of it.
	 *
	 * fe_set_translated: from now on the session is translated (called
	 * between requests): frame every command NEED_BODY, answer requests
	 * the other database cannot (LMS_REPLY), expect fe_answer.
	 * be_answer: describe one whole server message of the source of
	 * truth; returns 0, or -1 when it is malformed.
	 * fe_answer: write what the client must get for ans, for the request
	 * the client sent last without an answer yet, into buf[0..cap);
	 * returns the length (0: nothing), or -1 when it cannot (the core
	 * ends the session). */
	void (*fe_set_translated)(void *fe);
	int (*be_answer)(void *be, const uint8_t *msg, size_t len, struct lms_answer *ans);
	long (*fe_answer)(void *fe, const struct lms_answer *ans, uint8_t *buf, size_t cap);

	/* Required when the plugin asks for LMS_ACT_CONNECT from fe_decode
	 * in own_login mode: the database accepted the core's own login for
	 * this client (its login messages were not shown to the client); write
	 * the client's login answer (MySQL's OK) into out.  Returns 0 or -1
	 * (the core closes the connection). */
	int (*fe_login_done)(void *fe, struct lms_out *out);

	/* ---- 1.7 serving back ----
	 * Optional.  A translated session's source of truth is again a
	 * database of the clients' own wire family (a second cutover):
	 * return 0 when the frontend can relay the client's bytes to it from
	 * now on, as before the first cutover (nothing the client still holds
	 * was made up by the plugin, such as a statement id it chose); the
	 * core then opens a new connection there that logs in with the URL's
	 * credentials (relay_auth = 0, fe_state: this session's) and the
	 * session is no longer translated.  Return -1 with the reason in
	 * why[0..cap) (NUL-terminated) when it cannot: the session ends, as
	 * without this member.  Called between requests, outside a
	 * transaction, with no answer pending. */
	int (*fe_set_relayed)(void *fe, char *why, size_t cap);

	/* ---- ABI 1.9: session state carried to a new connection ---- */
	/* The k-th (from 0) state the client set that a new connection of
	 * the source of truth lacks (MySQL: the transaction isolation level
	 * it SET), as a request in req (struct lms_request: pointers valid
	 * until the next call); 1, or 0 when there is no k-th.  Called when a
	 * translated session's new source of truth accepted molt-lms's login
	 * (a cutover), before the client's waiting request; the core encodes
	 * each with be_encode_request and hides their answers.  One that
	 * fails is logged (replay_failed); the session goes on. */
	int (*fe_switch_state)(void *fe, uint32_t k, struct lms_request *req);

	void *reserved[4];
};

/* The one exported symbol.  The plugin checks host->abi_major and returns
 * NULL when it cannot work with this core. */
typedef const struct lms_dialect *(*lms_dialect_entry_fn)(
	const struct lms_host_api *host);

#define LMS_DIALECT_ENTRY_SYMBOL "lms_dialect_entry"

#ifdef __cplusplus
}
#endif

#endif /* LMS_PLUGIN_H */
