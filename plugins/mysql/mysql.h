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
#define MY_ST_MORE_RESULTS 0x8u
#define MY_ST_CURSOR_EXISTS 0x40u

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

struct my_cmd {
	uint8_t cmd;
	uint8_t first_seq; /* sequence id of the answer's first packet */
};

struct my_sess {
	/* frontend options */
	int tls_available;
	int tls_required;
	uint8_t conn_id[4];       /* the proxy's connection id (from its key) */
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
	struct my_cmd queue[MY_QUEUE];
	uint32_t q_head, q_len;
	/* database side of the command phase */
	int resp;                 /* enum my_resp */
	uint8_t cmd;              /* the command being answered */
	int be_cont;              /* the last database packet was 0xFFFFFF long */
	uint32_t be_cont_kind;    /* its lms_msg_kind */
	uint64_t left;            /* definitions still expected */
	uint32_t prep_cols;       /* COM_STMT_PREPARE: column count */
	uint32_t txn;             /* enum lms_txn_state, last known */
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
/* An ERR packet into out: code, SQLSTATE (5 chars), message (cut to fit),
 * with sequence id seq; with_state: the "#SQLSTATE" marker (protocol 4.1). */
void my_err_packet(struct lms_out *out, uint8_t seq, uint16_t code, const char *sqlstate, const char *msg,
		   int with_state);

/* state.c: the shared state */
struct my_sess *my_sess_new(void);
void my_sess_free(struct my_sess *s);
int my_queue_push(struct my_sess *s, uint8_t cmd, uint8_t first_seq);
int my_queue_pop(struct my_sess *s, struct my_cmd *out);

/* frontend.c */
void *my_fe_new(const struct lms_fe_opts *opts);
void my_fe_free(void *fe);
int my_fe_accept(void *fe, struct lms_out *out, struct lms_result *res);
int my_fe_frame(void *fe, const uint8_t *p, size_t avail, struct lms_frame *f);
int my_fe_decode(void *fe, const uint8_t *msg, size_t len, struct lms_out *out, struct lms_result *res);
void my_fe_tls_done(void *fe);
int my_fe_error(void *fe, const struct lms_error *err, struct lms_out *out);

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

/* url.c */
int my_parse_url(const char *url, struct lms_backend_conf *conf, char *err, size_t errlen);

/* entry.c: fill d (idempotent) and keep host; NULL when host is unusable */
const struct lms_dialect *my_entry(const struct lms_host_api *host, struct lms_dialect *d);

#endif /* LMS_MYSQL_H */
