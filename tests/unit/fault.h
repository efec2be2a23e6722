/*
 * A transport that fails on command, for unit tests only (as SQLite's
 * test VFS is): it wraps the plain transport of lib/net and, as armed,
 * delays, drops, cuts or freezes the replies to chosen commands, or
 * refuses or hangs connects.  Each link it carries runs through a small
 * proxy thread of its own, so the socket a link polls is ready exactly
 * when a faulty network would make it ready.
 *
 * Commands are counted as they leave the client (a SCRIPT LOAD or an
 * ASKING the link sends by itself counts too); every command is assumed
 * to get one reply (no SUBSCRIBE or MONITOR through it).
 */
#ifndef SIMLOG_TEST_FAULT_H
#define SIMLOG_TEST_FAULT_H

enum fault_kind {
	FAULT_NONE,
	/* The server takes a struck command; its reply (and so every reply
	 * behind it) comes `seconds` late. */
	FAULT_DELAY,
	/* A struck command never reaches the server, nor any command after
	 * it on that link: no reply comes. */
	FAULT_DROP,
	/* The server takes a struck command; the connection closes before
	 * its reply (commands after it on that link never reach the
	 * server). */
	FAULT_CUT,
	/* The server takes a struck command; from its reply on nothing
	 * comes back on that link. */
	FAULT_FREEZE,
	/* A struck connect is refused at once ("connection refused"). */
	FAULT_REFUSE,
	/* A struck connect hangs until its deadline (or its stop). */
	FAULT_HANG,
};

/* Links opened from now on without TLS go through the double (_remove:
 * through the plain transport again). */
void fault_install(void);
void fault_remove(void);
/*
 * Strike commands (connects, for REFUSE and HANG) number nth to
 * nth + count - 1, counted from this call (nth 1: the next one); count
 * 0: every one from nth on, until fault_clear.  Counters restart.
 */
void fault_arm(enum fault_kind kind, unsigned long nth, unsigned long count,
	       double seconds);
/* Strike nothing more (links already frozen or dropping stay so). */
void fault_clear(void);
/* Since the last fault_arm: commands and connects that went through the
 * double, how many of them were struck, and the commands that never
 * reached the server (dropped, or behind a cut). */
unsigned long fault_commands(void);
unsigned long fault_connects(void);
unsigned long fault_struck(void);
unsigned long fault_lost(void);

#endif
