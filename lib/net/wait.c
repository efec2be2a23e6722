/*
 * Waiting on a socket by an absolute deadline (monotonic seconds): poll(2)
 * in a loop that re-checks the deadline and the stop flag after every
 * EINTR, so no signal can stretch or re-arm a timeout.  The bottom of
 * lib/net: the transports, the link and the PostgreSQL sink wait here.
 */
#include <errno.h>
#include <poll.h>

#include "net/net.h"
#include "util.h"

int
simlog_net_wait(int fd, short events, double deadline,
		const volatile sig_atomic_t *stop)
{
	struct pollfd p;

	for (;;) {
		double left = deadline - simlog_now_mono();
		int ms, r;

		if (stop != NULL && *stop)
			return -1;
		if (left <= 0)
			return 0;
		ms = left > 3600 ? 3600000 : (int)(left * 1000) + 1;
		p.fd = fd;
		p.events = events;
		p.revents = 0;
		r = poll(&p, 1, ms);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
		/* Timed out or interrupted: the deadline decides, not poll. */
	}
}

int
simlog_net_stopped(struct simlog_err *err)
{
	simlog_seterr(err, SIMLOG_EX_TEMPFAIL, "interrupted");
	if (err != NULL)
		err->stopped = 1;
	return -1;
}
