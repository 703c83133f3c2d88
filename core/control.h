/*
 * control.h - the control thread: the only code that talks to the
 * coordination store (schema _molt_lms in the target) and writes the
 * watermark on the source.  Its libpq calls block, so they run on this
 * one thread, never on a worker or on the metrics loop.
 *
 * With coordination auto it reads _molt_lms.state at start and applies
 * it (lms_coord_apply), then every 2 s upserts this instance's row in
 * _molt_lms.instances (heartbeat and acknowledged state) and polls the
 * state again (the fallback when the orchestrator's push was missed).
 * A store without the schema means "not initialized": the instance
 * serves standalone from the source and joins once the schema appears.
 * A store that cannot be reached leaves the phase as it is: UNKNOWN at
 * start (SQL refused), paused stays paused.
 */
#ifndef LMS_CONTROL_H
#define LMS_CONTROL_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>

struct lms_runtime;
struct lms_control;

/* Called on the event loop given to lms_control_watermark once the
 * watermark was written or read (ok) or not (msg says why), with
 * http_code the status to answer.  When ok, msg is "" after a write, and
 * the token read ("" when the table has no row) after a read. */
typedef void (*lms_control_done_fn)(void *arg, bool ok, int http_code, const char *msg);

/* Start the control thread for rt (rt->cfg->coordination decides
 * whether it touches the store).  done_base is the loop on which
 * watermark results are delivered.  Returns NULL with a message. */
struct lms_control *lms_control_start(struct lms_runtime *rt, struct event_base *done_base,
				      char *err, size_t errlen);

/* Wait until the first reading of the store was attempted (applied, not
 * initialized, or unreachable), at most timeout_s. */
void lms_control_wait_first(struct lms_control *c, double timeout_s);

/* A state was just applied (POST /api/v1/state): write the
 * acknowledgement to the store now instead of at the next heartbeat.
 * Thread-safe, does not block. */
void lms_control_ack(struct lms_control *c);

/* Write (1, token, now()) into _molt_lms.watermark on the source, or
 * with token NULL read the token there, on the control thread; done(arg,
 * ...) runs later on done_base.  Returns 0, or -1 when out of memory or
 * stopping (done is not called then). */
int lms_control_watermark(struct lms_control *c, const char *token, lms_control_done_fn done, void *arg);

/* Can the store be read right now?  And why not ("ok" when it can):
 * copied into buf.  Thread-safe. */
bool lms_control_store_up(struct lms_control *c);
void lms_control_store_status(struct lms_control *c, char *buf, size_t cap);

/* This instance's id and admin URL (fixed once started). */
const char *lms_control_instance_id(const struct lms_control *c);
const char *lms_control_admin_url(const struct lms_control *c);

/* Stop the thread and join it; watermark requests still waiting are
 * answered with an error on done_base (run that loop once more to
 * deliver them).  Then free c.  NULL is fine. */
void lms_control_stop(struct lms_control *c);

#endif
