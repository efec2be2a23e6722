/*
 * The JSON-lines scanner (lib/json.c, not installed): a record validated
 * and its members found in place, without building a tree.
 */
#ifndef SIMLOG_JSON_H
#define SIMLOG_JSON_H

#include <stddef.h>

/*
 * Validate one line as a JSON object (RFC 8259, UTF-8, no NUL, nesting at
 * most SIMLOG_JSON_MAXDEPTH) and find the string value of the top-level
 * member `field` (which may be NULL).  On success out->val and out->len
 * point into the line at the raw string contents (between the quotes,
 * still escaped) and out->escaped says whether it holds escapes; out->kind
 * is SIMLOG_J_ABSENT if the member is absent.  Returns 0, or -1 with *why naming the problem and *at its byte
 * offset.
 */
#define SIMLOG_JSON_MAXDEPTH 512
enum simlog_jkind { SIMLOG_J_ABSENT, SIMLOG_J_STRING, SIMLOG_J_OTHER };
struct simlog_jfield {
	enum simlog_jkind kind;
	const char *val;
	size_t len;
	int escaped;
	int dup;		/* the member appeared more than once */
};
int simlog_json_scan(const char *line, size_t len, const char *field,
		     size_t flen, struct simlog_jfield *out,
		     const char **why, size_t *at);

/* The top-level members of a JSON object line, as raw spans into it. */
enum simlog_jvkind {
	SIMLOG_JV_STRING, SIMLOG_JV_NUMBER, SIMLOG_JV_TRUE, SIMLOG_JV_FALSE,
	SIMLOG_JV_NULL, SIMLOG_JV_OBJECT, SIMLOG_JV_ARRAY,
};
struct simlog_jmember {
	const char *key;	/* between the quotes, still escaped */
	size_t klen;
	int kesc;		/* key holds escapes */
	const char *val;	/* the raw value; strings with their quotes */
	size_t vlen;
	enum simlog_jvkind kind;
};
/* Validate and list up to max members; -1 with *why on bad JSON or more
 * members than max. */
int simlog_json_members(const char *line, size_t len, struct simlog_jmember *m,
			size_t max, size_t *n, const char **why);
/* Decode the escapes of a validated JSON string body into out, which must
 * hold n bytes (decoding never grows); returns the decoded length. */
size_t simlog_json_unescape(const char *s, size_t n, char *out);
/* In a validated JSON object (key != NULL) its member key, or in an array
 * its element index: 0 with *out set (out->val, vlen, kind), 1 when there
 * is no such member or element, -1 when val is not an object (array). */
int simlog_json_child(const char *val, size_t len, const char *key,
		      size_t klen, size_t index, struct simlog_jmember *out);


#endif
