/*
 * kill.c - KILL naming a session by the connection id the proxy showed in
 * its greeting.
 *
 * MySQL has no out-of-band cancel: a client (the mariadb CLI on Ctrl-C,
 * Connector/J's Statement.cancel()) opens a second connection, logs in, and
 * sends KILL QUERY <id> with the id from the first connection's greeting,
 * which is the proxy's (the first 4 bytes of the session's proxy key,
 * big-endian).
 * The server knows that session by its own thread id, which mysql.so
 * reported as the session's backend key.  So a short COM_QUERY
 *     KILL [HARD | SOFT] [CONNECTION | QUERY] <id> [;]
 * or a COM_PROCESS_KILL is decoded, and when <id> is a proxy id the core
 * knows (lms_host_api.backend_key_of, ABI 1.3) it is replaced by the
 * server's thread id.  The server then checks privileges as it would for
 * the client directly, and its OK or ERR goes back on the issuing
 * connection, which stays open.  Anything else (KILL QUERY ID, KILL USER,
 * comments, an id the proxy did not hand out, such as the server's own
 * from SELECT CONNECTION_ID()) is forwarded unchanged.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mysql.h"

#define KILL_MAX 128u /* longest KILL statement looked at */

static int is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Skip blanks in [*q, end). */
static void skip_spaces(const uint8_t **q, const uint8_t *end)
{
	while (*q < end && is_space(**q))
		(*q)++;
}

/* Is [*q, end) at the word w (case-insensitive, followed by a blank or the
 * end)?  Consumes it and the blanks after it when it is. */
static int take_word(const uint8_t **q, const uint8_t *end, const char *w)
{
	size_t n = strlen(w);
	if ((size_t)(end - *q) < n || strncasecmp((const char *)*q, w, n) != 0)
		return 0;
	if (*q + n < end && !is_space((*q)[n]))
		return 0;
	*q += n;
	skip_spaces(q, end);
	return 1;
}

int my_kill_candidate(uint8_t cmd, const uint8_t *p, size_t avail, uint32_t len)
{
	if (!LMS_HOST_HAS(my_host, backend_key_of))
		return 0;
	if (cmd == MY_COM_PROCESS_KILL)
		return len == 5 ? 1 : 0;
	if (cmd != MY_COM_QUERY || len < 6 || len > KILL_MAX)
		return 0;
	if (avail < MY_HDR + len)
		return -1;
	const uint8_t *q = p + MY_HDR + 1, *end = p + MY_HDR + len;
	skip_spaces(&q, end);
	return end - q > 4 && strncasecmp((const char *)q, "kill", 4) == 0 && is_space(q[4]);
}

/* The server's thread id of the session the proxy showed as id; -1 when
 * the proxy did not hand out that id. */
static int64_t server_thread_of(uint32_t id)
{
	/* the greeting shows the key's first 4 bytes big-endian (my_fe_new) */
	uint8_t prefix[4] = { (uint8_t)(id >> 24), (uint8_t)(id >> 16), (uint8_t)(id >> 8), (uint8_t)id };
	uint8_t key[LMS_KEY_MAX];
	size_t key_len = 0;
	if (my_host->backend_key_of(prefix, 4, key, &key_len) < 0 || key_len != 4)
		return -1;
	return (int64_t)my_le32(key);
}

/* KILL ... <id> as text: the digits of the id in [*num, *num_end) when the
 * statement has the form above. */
static int parse_kill(const uint8_t *q, const uint8_t *end, const uint8_t **num, const uint8_t **num_end)
{
	skip_spaces(&q, end);
	if (!take_word(&q, end, "kill"))
		return -1;
	if (!take_word(&q, end, "hard"))
		take_word(&q, end, "soft");
	if (take_word(&q, end, "query")) {
		if (take_word(&q, end, "id"))
			return -1; /* KILL QUERY ID <query id>: not a connection */
	} else {
		take_word(&q, end, "connection");
	}
	*num = q;
	while (q < end && *q >= '0' && *q <= '9')
		q++;
	if (q == *num || q - *num > 10)
		return -1;
	*num_end = q;
	skip_spaces(&q, end);
	if (q < end && *q == ';')
		q++;
	skip_spaces(&q, end);
	return q == end ? 0 : -1;
}

/* msg (a COM_QUERY) with the digits [num, num_end) replaced by thread. */
static int rewrite_text(const uint8_t *msg, size_t len, const uint8_t *num, const uint8_t *num_end,
			int64_t thread, struct lms_out *out)
{
	char digits[24];
	int nd = snprintf(digits, sizeof(digits), "%lld", (long long)thread);
	size_t head = (size_t)(num - msg), tail = len - (size_t)(num_end - msg);
	size_t n = head + (size_t)nd + tail;
	if (nd <= 0 || n > LMS_OUT_MAX)
		return -1;
	memcpy(out->data, msg, head);
	memcpy(out->data + head, digits, (size_t)nd);
	memcpy(out->data + head + (size_t)nd, num_end, tail);
	my_put24(out->data, (uint32_t)(n - MY_HDR));
	out->len = n;
	return 0;
}

int my_fe_kill(struct my_sess *s, const uint8_t *msg, size_t len, struct lms_out *out, struct lms_result *res)
{
	uint8_t cmd = msg[4];
	if (my_queue_push(s, cmd, 1) < 0)
		return -1; /* fe_frame checked the room */
	s->cseq = 1;
	s->to_client = 1;
	res->verdict = LMS_FORWARD;
	if (cmd == MY_COM_PROCESS_KILL) {
		if (len != MY_HDR + 5)
			return 0;
		int64_t thread = server_thread_of(my_le32(msg + MY_HDR + 1));
		if (thread < 0)
			return 0;
		memcpy(out->data, msg, len);
		for (int i = 0; i < 4; i++)
			out->data[MY_HDR + 1 + i] = (uint8_t)(thread >> (8 * i));
		out->len = len;
		res->verdict = LMS_REWRITE;
		return 0;
	}
	const uint8_t *num, *num_end;
	if (parse_kill(msg + MY_HDR + 1, msg + len, &num, &num_end) < 0)
		return 0;
	uint64_t id = 0;
	for (const uint8_t *q = num; q < num_end; q++)
		id = id * 10 + (uint64_t)(*q - '0');
	if (id > UINT32_MAX)
		return 0;
	int64_t thread = server_thread_of((uint32_t)id);
	if (thread < 0 || rewrite_text(msg, len, num, num_end, thread, out) < 0)
		return 0;
	res->verdict = LMS_REWRITE;
	return 0;
}
