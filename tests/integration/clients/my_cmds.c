/*
 * my_cmds.c - MariaDB's C connector (libmariadb) sending the commands
 * beyond queries, for test_57_mysql_commands.py:
 *
 *   my_cmds host port user password db ca|- table step...
 *
 * Steps: wait (read a line from stdin first), longdata
 * (mysql_stmt_send_long_data into table_ld), cursor (a read-only cursor
 * with 2 prefetched rows over table), stat (mysql_stat), query, and
 * changeuser:user:password (mysql_change_user).  One line per step on
 * stdout; exit status 1 on an unexpected failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>

static MYSQL *db;
static const char *dbname, *table;

static int fail(const char *what, MYSQL_STMT *st)
{
	fprintf(stderr, "%s: %u %s\n", what, st ? mysql_stmt_errno(st) : mysql_errno(db),
		st ? mysql_stmt_error(st) : mysql_error(db));
	return 1;
}

/* update table_ld set body = <3 chunks> where id = 1 */
static int longdata(void)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "update %s_ld set body = ? where id = ?", table);
	MYSQL_STMT *st = mysql_stmt_init(db);
	if (!st || mysql_stmt_prepare(st, sql, strlen(sql)))
		return fail("prepare", st);
	MYSQL_BIND b[2];
	int id = 1;
	memset(b, 0, sizeof(b));
	b[0].buffer_type = MYSQL_TYPE_STRING;
	b[1].buffer_type = MYSQL_TYPE_LONG;
	b[1].buffer = &id;
	if (mysql_stmt_bind_param(st, b))
		return fail("bind", st);
	char z[10000];
	memset(z, 'z', sizeof(z));
	if (mysql_stmt_send_long_data(st, 0, "chunk one|", 10) || mysql_stmt_send_long_data(st, 0, "chunk two|", 10) ||
	    mysql_stmt_send_long_data(st, 0, z, sizeof(z)))
		return fail("send_long_data", st);
	if (mysql_stmt_execute(st))
		return fail("execute", st);
	printf("longdata=ok affected=%llu\n", (unsigned long long)mysql_stmt_affected_rows(st));
	mysql_stmt_close(st);
	return 0;
}

/* select id, name from table order by id, through a cursor */
static int cursor(void)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "select id, name from %s order by id", table);
	MYSQL_STMT *st = mysql_stmt_init(db);
	if (!st || mysql_stmt_prepare(st, sql, strlen(sql)))
		return fail("prepare", st);
	unsigned long type = CURSOR_TYPE_READ_ONLY, prefetch = 2;
	if (mysql_stmt_attr_set(st, STMT_ATTR_CURSOR_TYPE, &type) ||
	    mysql_stmt_attr_set(st, STMT_ATTR_PREFETCH_ROWS, &prefetch))
		return fail("attr", st);
	if (mysql_stmt_execute(st))
		return fail("execute", st);
	int id = 0;
	char name[64];
	unsigned long nl = 0;
	MYSQL_BIND r[2];
	memset(r, 0, sizeof(r));
	r[0].buffer_type = MYSQL_TYPE_LONG;
	r[0].buffer = &id;
	r[1].buffer_type = MYSQL_TYPE_STRING;
	r[1].buffer = name;
	r[1].buffer_length = sizeof(name);
	r[1].length = &nl;
	if (mysql_stmt_bind_result(st, r))
		return fail("bind_result", st);
	char out[512] = "";
	int rc, n = 0;
	while ((rc = mysql_stmt_fetch(st)) == 0) {
		size_t l = strlen(out);
		snprintf(out + l, sizeof(out) - l, "%s%d|%.*s", n++ ? "," : "", id, (int)nl, name);
	}
	if (rc != MYSQL_NO_DATA)
		return fail("fetch", st);
	printf("cursor=%s\n", out);
	mysql_stmt_close(st);
	return 0;
}

static int step(const char *s)
{
	if (strcmp(s, "wait") == 0) {
		char line[64];
		fflush(stdout);
		return fgets(line, sizeof(line), stdin) ? 0 : 1;
	}
	if (strcmp(s, "longdata") == 0)
		return longdata();
	if (strcmp(s, "cursor") == 0)
		return cursor();
	if (strcmp(s, "stat") == 0) {
		const char *t = mysql_stat(db);
		if (!t)
			return fail("stat", NULL);
		printf("stat=%s\n", t);
		return 0;
	}
	if (strcmp(s, "query") == 0) {
		if (mysql_query(db, "select 1"))
			return fail("query", NULL);
		MYSQL_RES *res = mysql_store_result(db);
		MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
		printf("query=%s\n", row && row[0] ? row[0] : "?");
		mysql_free_result(res);
		return 0;
	}
	if (strncmp(s, "changeuser:", 11) == 0) {
		char user[128], *pw;
		snprintf(user, sizeof(user), "%s", s + 11);
		pw = strchr(user, ':');
		if (!pw)
			return 1;
		*pw++ = 0;
		if (mysql_change_user(db, user, pw, dbname))
			printf("changeuser=%u\n", mysql_errno(db)), fprintf(stderr, "changeuser: %s\n", mysql_error(db));
		else
			printf("changeuser=ok\n");
		return 0;
	}
	fprintf(stderr, "unknown step %s\n", s);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 8) {
		fprintf(stderr, "usage: my_cmds host port user password db ca|- table step...\n");
		return 2;
	}
	dbname = argv[5];
	table = argv[7];
	db = mysql_init(NULL);
	if (strcmp(argv[6], "-") != 0) {
		my_bool off = 0;
		mysql_options(db, MYSQL_OPT_SSL_CA, argv[6]);
		mysql_options(db, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &off);
	} else {
		my_bool off = 0;
		mysql_options(db, MYSQL_OPT_SSL_ENFORCE, &off);
	}
	if (!mysql_real_connect(db, argv[1], argv[3], argv[4], argv[5], (unsigned)atoi(argv[2]), NULL, 0))
		return fail("connect", NULL);
	printf("connected\n");
	fflush(stdout);
	for (int i = 8; i < argc; i++) {
		if (step(argv[i]))
			return 1;
		fflush(stdout);
	}
	mysql_close(db);
	return 0;
}
