/* Cluster hash slots: CRC16 (XMODEM) of a key's hash tag, mod 16384, as
 * the Redis Cluster specification gives it. */
#include <string.h>

#include "net/conn_int.h"
#include "tap.h"

static unsigned
slot(const char *k)
{
	return simlog_net_cluster_slot(k, strlen(k));
}

int
main(void)
{
	/* The specification's check value: CRC16("123456789") = 0x31C3. */
	ok(slot("123456789") == (0x31C3 & 16383), "check value");
	/* Values CLUSTER KEYSLOT gives. */
	ok(slot("foo") == 12182, "foo -> 12182");
	ok(slot("bar") == 5061, "bar -> 5061");
	ok(slot("") == 0, "empty key -> 0");
	/* Only the first non-empty {...} counts. */
	ok(slot("{user1000}.following") == slot("user1000"), "hash tag");
	ok(slot("simlog:{run42}:q") == slot("simlog:{run42}:n") &&
	    slot("simlog:{run42}:q") == slot("run42"), "a simulation's keys "
	    "share a slot");
	ok(slot("foo{}{bar}") == slot("foo{}{bar}") &&
	    slot("foo{}{bar}") != slot("bar"), "empty tag: the whole key");
	ok(slot("foo{{bar}}zap") == slot("{bar"), "tag up to the first }");
	ok(slot("foo{bar}{zap}") == slot("bar"), "the first tag only");
	ok(slot("{") == slot("{") && slot("a{b") != slot("b"),
	    "an unclosed brace: the whole key");
	return tap_done();
}
