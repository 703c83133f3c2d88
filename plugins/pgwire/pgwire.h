/*
 * pgwire.h - PostgreSQL wire protocol v3, shared by postgres.so and
 * cockroach.so.  Internal to the plugins; the core never includes it.
 */
#ifndef LMS_PGWIRE_H
#define LMS_PGWIRE_H

#include <stddef.h>
#include <stdint.h>

#include "lms/plugin.h"

/* Protocol constants. */
#define PG_PROTOCOL_3 196608u
#define PG_SSL_REQUEST 80877103u
#define PG_GSSENC_REQUEST 80877104u
#define PG_CANCEL_REQUEST 80877102u
#define PG_MAX_STARTUP 8192u  /* fits struct lms_out */

/* Host services given at entry. */
extern const struct lms_host_api *pg_host;

/* Big-endian helpers; callers have checked the length. */
static inline uint32_t pg_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void pg_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Frame a typed message ("T" + int32 length).  Shared by both sides. */
int pg_frame_typed(const uint8_t *p, size_t avail, struct lms_frame *f);

/* Write an ErrorResponse into out.  Returns 0, -1 when it does not fit. */
int pg_error_response(const struct lms_error *err, struct lms_out *out);

/* Fill every function of the table for dialect name. */
void pg_dialect_fill(struct lms_dialect *d, const char *name);

/* The body of a pgwire plugin's entry point: check the host, remember
 * it, fill d as dialect name.  Returns d, or NULL for an unusable host. */
const struct lms_dialect *pg_entry(const struct lms_host_api *host, struct lms_dialect *d,
				   const char *name);

/* Frontend (frontend.c). */
void *pg_fe_new(const struct lms_fe_opts *opts);
void pg_fe_free(void *fe);
int pg_fe_accept(void *fe, struct lms_out *out, struct lms_result *res);
int pg_fe_frame(void *fe, const uint8_t *p, size_t avail, struct lms_frame *f);
int pg_fe_decode(void *fe, const uint8_t *msg, size_t len, struct lms_out *out, struct lms_result *res);
void pg_fe_tls_done(void *fe);
/* The backend withheld SCRAM-SHA-256-PLUS from the client's list: the
 * frontend then checks the client's SASLInitialResponse. */
void pg_fe_note_plus_withheld(void *fe);
int pg_fe_error(void *fe, const struct lms_error *err, struct lms_out *out);

/* Backend (backend.c). */
void *pg_be_new(const struct lms_be_opts *opts);
void pg_be_free(void *be);
int pg_be_start(void *be, int tls_active, const struct lms_startup *startup,
		struct lms_out *out, struct lms_result *res);
int pg_be_frame(void *be, const uint8_t *p, size_t avail, struct lms_frame *f);
int pg_be_decode(void *be, const uint8_t *msg, size_t len, struct lms_out *out, struct lms_result *res);
int pg_be_cancel(const uint8_t *key, size_t key_len, struct lms_out *out);

/* Connection URLs (url.c). */
int pg_parse_url(const char *url, struct lms_backend_conf *conf, char *err, size_t errlen);
int pg_check_backend(const struct lms_backend_conf *conf, char *err, size_t errlen);

#endif
