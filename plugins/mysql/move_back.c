/*
 * move_back.c - a session translated since a cutover (served by the
 * PostgreSQL-wire target) relayed to MariaDB again after a cutover back
 * (ABI 1.7, fe_set_relayed).
 *
 * The core then opens a new connection to MariaDB that logs in with the
 * URL's credentials and this session's state (auth_own.c: the
 * capabilities the client negotiated, the session's database), and the
 * client's bytes go through as before the first cutover.  A statement
 * the client holds (its id chosen by molt-lms, or given by MariaDB on a
 * connection long gone) is prepared again there, and its id rewritten in
 * every command (remap.c; the bytes are patched by a 1.10 core, and
 * with an older one such a session ends with the reason).  The session
 * moves only with no long data or cursor kept and nothing in flight;
 * otherwise it ends with the reason.
 * What it set that MariaDB keeps per connection (autocommit off, its
 * isolation level and access mode) is set on the new connection before
 * its next command (isolation.c, my_fe_switch_state).
 */
#include "autoconfig.h"

#include <stdio.h>

#include "mysql.h"

/* How many statements the client holds open. */
static uint32_t open_statements(const struct my_sess *s)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < MY_STMTS; i++)
		n += s->stmts[i].used != 0;
	return n;
}

int my_fe_set_relayed(void *fe, char *why, size_t cap)
{
	struct my_sess *s = fe;
	uint32_t n = open_statements(s);
	if (n > 0 && my_host->abi_minor < 10) { /* (ids are patched by a 1.10 core) */
		snprintf(why, cap, "it has %u prepared statement%s open, whose ids MariaDB never gave this connection",
			 (unsigned)n, n == 1 ? "" : "s");
		return -1;
	}
	/* (not local_req: left from the last command, answered or not; the
	 * queue says whether an answer is owed) */
	if (s->state != MY_S_READY || s->q_len > 0 || s->fe_cont || s->ans.started || s->ans.held ||
	    s->ans.err_held || s->cu_pending || s->ld_bytes || s->cur_bytes) {
		snprintf(why, cap, "a command of it is still being answered");
		return -1;
	}
	s->moved_ac_off = !s->autocommit; /* (its login says on) */
	my_remap_start(s); /* its statements are prepared again there */
	s->translated = 0;
	return 0;
}
