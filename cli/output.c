/* output.c - rendering the orchestrator's answers: aligned text tables for
 * people, the JSON document as received for scripts. */
#include "output.h"

#include <stdlib.h>
#include <string.h>

struct lms_cli_table {
	size_t ncols;
	char **headers; /* NULL: no header line */
	char **cells;   /* nrows * ncols */
	size_t nrows, cap;
};

/* Display width of UTF-8 text: its code points (good enough for names,
 * addresses and statements; wide characters are rare here). */
static size_t text_width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			w++;
	return w;
}

/* clean_cell: a copy of S with control characters turned into spaces,
 * cut to LMS_CLI_MAX_CELL characters (on a character boundary) plus "...". */
static char *clean_cell(const char *s)
{
	size_t chars = 0, i, len;
	char *c;

	if (!s)
		s = "-";
	len = strlen(s);
	c = malloc(len + 4);
	if (!c)
		return NULL;
	for (i = 0; i < len; i++) {
		unsigned char b = (unsigned char)s[i];
		if ((b & 0xC0) != 0x80 && chars++ == LMS_CLI_MAX_CELL) {
			memcpy(c + i, "...", 4);
			return c;
		}
		c[i] = (b < 0x20 || b == 0x7f) ? ' ' : (char)b;
	}
	c[len] = '\0';
	return c;
}

struct lms_cli_table *lms_cli_table_new(size_t ncols, const char *const *headers)
{
	struct lms_cli_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->ncols = ncols;
	if (headers) {
		t->headers = calloc(ncols, sizeof(char *));
		if (!t->headers)
			goto fail;
		for (size_t i = 0; i < ncols; i++)
			if (!(t->headers[i] = clean_cell(headers[i])))
				goto fail;
	}
	return t;
fail:
	lms_cli_table_free(t);
	return NULL;
}

int lms_cli_table_add(struct lms_cli_table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		char **p = realloc(t->cells, cap * t->ncols * sizeof(char *));
		if (!p)
			return -1;
		t->cells = p;
		t->cap = cap;
	}
	char **row = t->cells + t->nrows * t->ncols;
	for (size_t i = 0; i < t->ncols; i++) {
		if (!(row[i] = clean_cell(cells[i]))) {
			while (i-- > 0)
				free(row[i]);
			return -1;
		}
	}
	t->nrows++;
	return 0;
}

size_t lms_cli_table_rows(const struct lms_cli_table *t)
{
	return t->nrows;
}

static void print_row(char *const *row, const size_t *width, size_t ncols, FILE *out)
{
	for (size_t i = 0; i < ncols; i++) {
		if (i + 1 == ncols) {
			fprintf(out, "%s\n", row[i]);
			break;
		}
		fprintf(out, "%s%*s", row[i], (int)(width[i] - text_width(row[i]) + 2), "");
	}
}

void lms_cli_table_print(const struct lms_cli_table *t, FILE *out)
{
	size_t *width = calloc(t->ncols ? t->ncols : 1, sizeof(size_t));

	if (!width)
		return;
	for (size_t i = 0; i < t->ncols; i++) {
		if (t->headers)
			width[i] = text_width(t->headers[i]);
		for (size_t r = 0; r < t->nrows; r++) {
			size_t w = text_width(t->cells[r * t->ncols + i]);
			if (w > width[i])
				width[i] = w;
		}
	}
	if (t->headers)
		print_row(t->headers, width, t->ncols, out);
	for (size_t r = 0; r < t->nrows; r++)
		print_row(t->cells + r * t->ncols, width, t->ncols, out);
	free(width);
}

void lms_cli_table_free(struct lms_cli_table *t)
{
	if (!t)
		return;
	if (t->headers)
		for (size_t i = 0; i < t->ncols; i++)
			free(t->headers[i]);
	free(t->headers);
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

char *lms_cli_json_text(const json_t *v)
{
	char *s = NULL;

	switch (v ? json_typeof(v) : JSON_NULL) {
	case JSON_STRING:
		return strdup(json_string_value(v));
	case JSON_INTEGER:
		if (asprintf(&s, "%" JSON_INTEGER_FORMAT, json_integer_value(v)) < 0)
			return NULL;
		return s;
	case JSON_REAL:
		if (asprintf(&s, "%.1f", json_real_value(v)) < 0)
			return NULL;
		return s;
	case JSON_TRUE:
		return strdup("true");
	case JSON_FALSE:
		return strdup("false");
	case JSON_NULL:
		return strdup("-");
	default:
		return json_dumps(v, JSON_COMPACT);
	}
}

char *lms_cli_field(const json_t *obj, const char *key)
{
	return lms_cli_json_text(json_is_object(obj) ? json_object_get(obj, key) : NULL);
}

/* add_json_row: a row of the texts of VALUES[0..n). */
static int add_json_row(struct lms_cli_table *t, json_t *const *values, size_t n)
{
	char **cells = calloc(n ? n : 1, sizeof(char *));
	int rc = -1;

	if (!cells)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!(cells[i] = lms_cli_json_text(values[i])))
			goto out;
	rc = lms_cli_table_add(t, (const char *const *)cells);
out:
	for (size_t i = 0; i < n; i++)
		free(cells[i]);
	free(cells);
	return rc;
}

void lms_cli_print_list(const json_t *doc, const char *key, const char *title, FILE *out)
{
	json_t *arr = json_object_get(doc, key), *item, *cols = json_array(), *v;
	const char **headers = NULL;
	json_t **values = NULL;
	struct lms_cli_table *t = NULL;
	const char *k;
	size_t i, j, n;

	if (!cols || !json_is_array(arr) || json_array_size(arr) == 0)
		goto out;
	/* Columns: every key of every element, in order of first appearance. */
	json_array_foreach(arr, i, item) {
		json_object_foreach(item, k, v) {
			int seen = 0;
			json_t *c;
			json_array_foreach(cols, j, c)
				seen |= strcmp(json_string_value(c), k) == 0;
			if (!seen)
				json_array_append_new(cols, json_string(k));
		}
	}
	n = json_array_size(cols);
	headers = calloc(n ? n : 1, sizeof(char *));
	values = calloc(n ? n : 1, sizeof(json_t *));
	if (!headers || !values)
		goto out;
	for (j = 0; j < n; j++)
		headers[j] = json_string_value(json_array_get(cols, j));
	t = lms_cli_table_new(n, headers);
	if (!t)
		goto out;
	json_array_foreach(arr, i, item) {
		for (j = 0; j < n; j++)
			values[j] = json_object_get(item, headers[j]);
		if (add_json_row(t, values, n) < 0)
			goto out;
	}
	if (title)
		fprintf(out, "\n%s:\n", title);
	lms_cli_table_print(t, out);
out:
	lms_cli_table_free(t);
	free(headers);
	free(values);
	json_decref(cols);
}

void lms_cli_print_generic(const json_t *doc, FILE *out)
{
	struct lms_cli_table *t = lms_cli_table_new(2, NULL);
	const char *k;
	json_t *v;

	if (!t)
		return;
	json_object_foreach((json_t *)doc, k, v) {
		json_t *pair[2] = {json_string(k), v};
		int is_list = json_is_array(v) && json_is_object(json_array_get(v, 0));
		if (!is_list)
			add_json_row(t, pair, 2);
		json_decref(pair[0]);
	}
	lms_cli_table_print(t, out);
	lms_cli_table_free(t);
	json_object_foreach((json_t *)doc, k, v)
		if (json_is_array(v) && json_is_object(json_array_get(v, 0)))
			lms_cli_print_list(doc, k, k, out);
}

void lms_cli_print_raw_json(const char *body, size_t len, FILE *out)
{
	fwrite(body, 1, len, out);
	if (len == 0 || body[len - 1] != '\n')
		fputc('\n', out);
}
