/* output.h - rendering the orchestrator's answers: aligned text tables for
 * people, the JSON document as received for scripts. */
#ifndef LMS_CLI_OUTPUT_H
#define LMS_CLI_OUTPUT_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

/* A table of text cells, printed with aligned columns.  Cells are copied
 * and cleaned (control characters become spaces) when added. */
struct lms_cli_table;

/* lms_cli_table_new: a table of NCOLS columns with these HEADERS (copied;
 * NULL: a table without a header line, e.g. "label  value" pairs).
 * Returns NULL when out of memory; free with lms_cli_table_free. */
struct lms_cli_table *lms_cli_table_new(size_t ncols, const char *const *headers);

/* lms_cli_table_add: append a row of NCOLS cells (NULL prints as "-"); a
 * cell longer than MAX_CELL characters is cut with "...".  Returns 0, or -1
 * when out of memory. */
int lms_cli_table_add(struct lms_cli_table *t, const char *const *cells);

size_t lms_cli_table_rows(const struct lms_cli_table *t);
void lms_cli_table_print(const struct lms_cli_table *t, FILE *out);
void lms_cli_table_free(struct lms_cli_table *t);

/* The longest cell a table shows; longer ones (statements) are cut. */
#define LMS_CLI_MAX_CELL 80

/* lms_cli_json_text: a JSON value as a table cell: strings as they are,
 * numbers, true/false, null and missing values as "-", objects and
 * arrays as compact JSON.  Returns a malloc()ed string (the caller frees
 * it) or NULL when out of memory. */
char *lms_cli_json_text(const json_t *v);

/* lms_cli_field: the text of member KEY of OBJ (see lms_cli_json_text). */
char *lms_cli_field(const json_t *obj, const char *key);

/* lms_cli_print_generic: print any JSON object: its scalar members as
 * "label  value" lines, then each array of objects as a table titled
 * with its name.  For answers whose shape the CLI does not know. */
void lms_cli_print_generic(const json_t *doc, FILE *out);

/* lms_cli_print_list: print array member KEY of DOC (objects) as a table
 * titled TITLE (NULL: no title), columns in the order their keys first
 * appear.  Prints nothing for a missing or empty array. */
void lms_cli_print_list(const json_t *doc, const char *key, const char *title, FILE *out);

/* lms_cli_print_raw_json: the orchestrator's document exactly as received,
 * ending with a newline. */
void lms_cli_print_raw_json(const char *body, size_t len, FILE *out);

#endif
