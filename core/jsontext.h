/*
 * jsontext.h - JSON strings from texts that databases and clients wrote:
 * such texts (error messages, statement fingerprints) may hold invalid
 * UTF-8, often because they were cut to fit, and jansson refuses those.
 */
#ifndef LMS_JSONTEXT_H
#define LMS_JSONTEXT_H

#include <jansson.h>

/* A JSON string holding s, each byte that is not part of a valid UTF-8
 * sequence replaced by '?'; JSON null for s NULL.  Returns a new
 * reference, NULL when out of memory. */
json_t *lms_json_text(const char *s);

#endif
