/*
 * session.h - one client connection and the backend connection it owns.
 *
 * A session moves bytes between the two, framed by the dialect plugin:
 * most messages are streamed through untouched; the few the plugin wants
 * to see whole (login, ready-for-query) are decoded and may be rewritten.
 * All I/O of a session happens on its worker's thread.
 */
#ifndef LMS_SESSION_H
#define LMS_SESSION_H

#include <stdbool.h>
#include <stdint.h>

struct lms_worker;
struct lms_session;

/* Take ownership of an accepted socket. */
void lms_session_accept(struct lms_worker *w, int fd);

/* Take over s, which another worker handed over between two
 * transactions (lms_worker_hand_over): its sockets join w's loop.
 * w's thread. */
void lms_session_adopt(struct lms_worker *w, struct lms_session *s);

/* Shutdown began: close the session now if idle, or once its running
 * request and transaction end. */
void lms_session_drain(struct lms_session *s);

/* Shutdown deadline: tell the client and close now. */
void lms_session_kill(struct lms_session *s);

/* The coordination state changed (coord.h): pause at the next request
 * boundary outside a transaction, resume, or move to a new source of
 * truth, as the new state says.  Worker thread. */
void lms_session_coord_changed(struct lms_session *s);

/* What GET /api/v1/connections shows of one session.  Worker thread;
 * strings are copied. */
struct lms_session_info {
	uint64_t id;
	char peer[64];
	char user[64];
	char database[64];
	const char *state;          /* "login", "idle", "active", "in_transaction", "queued" */
	double transaction_age_s;   /* 0 outside a transaction */
	char last_statement[256];   /* fingerprint, "" if unknown */
	const char *backend;        /* "source" or "target" */
	bool queued;
};
void lms_session_info(const struct lms_session *s, struct lms_session_info *out);

/* Intrusive list links used by the worker. */
struct lms_session *lms_session_next(struct lms_session *s);
void lms_session_link(struct lms_session *s, struct lms_session **head);
void lms_session_unlink(struct lms_session *s, struct lms_session **head);

#endif
