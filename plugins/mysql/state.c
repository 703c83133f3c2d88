/*
 * state.c - one session's shared protocol state and its queue of
 * commands waiting for their answers.
 */
#include "autoconfig.h"

#include <string.h>

#include "mysql.h"

struct my_sess *my_sess_new(void)
{
	struct my_sess *s = my_host->alloc(sizeof(*s));
	if (!s)
		return NULL;
	memset(s, 0, sizeof(*s));
	s->to_client = 0;
	s->txn = LMS_TXN_IDLE;
	s->autocommit = 1;
	return s;
}

void my_sess_free(struct my_sess *s)
{
	if (!s)
		return;
	if (s->hs)
		my_host->free(s->hs);
	my_stmt_clear(s);
	my_exec_ld_free(s);
	my_ans_free(s);
	for (uint32_t i = 0; i < s->q_len; i++) {
		struct my_cmd *c = &s->queue[(s->q_head + i) % MY_QUEUE];
		if (c->prep)
			my_host->free(c->prep);
	}
	if (s->holes)
		my_host->free(s->holes);
	if (s->params)
		my_host->free(s->params);
	if (s->text)
		my_host->free(s->text);
	my_host->free(s);
}

/* Returns 0, or -1 when MY_QUEUE commands already wait. */
int my_queue_push(struct my_sess *s, uint8_t cmd, uint8_t first_seq)
{
	if (s->q_len >= MY_QUEUE)
		return -1;
	struct my_cmd *c = &s->queue[(s->q_head + s->q_len) % MY_QUEUE];
	c->cmd = cmd;
	c->first_seq = first_seq;
	c->local = MY_L_NONE;
	c->tag[0] = 0;
	c->prep = NULL;
	c->prep_len = 0;
	c->cursor = 0;
	c->stmt = 0;
	c->nrows = 0;
	c->ac_commit = 0;
	c->hide = 0;
	s->q_len++;
	return 0;
}

/* Returns 0, or -1 when no command waits. */
int my_queue_pop(struct my_sess *s, struct my_cmd *out)
{
	if (s->q_len == 0)
		return -1;
	*out = s->queue[s->q_head];
	s->q_head = (s->q_head + 1) % MY_QUEUE;
	s->q_len--;
	return 0;
}
