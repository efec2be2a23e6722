/*
 * What a writer's run did, as simlog-push(1) reports it: the summary line
 * and the exit status.  Every program over the writer (the tool, the
 * Python module) reports the same way through these.
 */
#include "simlog.h"

void
simlog_writer_summary(struct simlog_jw *w, const struct simlog_writer_stats *s,
		      const struct simlog_writer_input *in)
{
	static const char *const prio[] = { "low", "normal", "critical" };

	simlog_jw_begin(w);
	simlog_jw_kstr(w, "sim", s->sim);
	if (in->replayed_from != NULL)
		simlog_jw_kstr(w, "replayed_from", in->replayed_from);
	simlog_jw_kuint(w, "read", in->read);
	simlog_jw_kuint(w, "pushed", s->pushed);
	simlog_jw_kuint(w, "rejected", in->rejected);
	simlog_jw_kuint(w, "spooled", s->spooled);
	simlog_jw_kuint(w, "replayed", s->replayed);
	simlog_jw_kuint(w, "deferred", s->deferred);
	simlog_jw_kuint(w, "dropped", s->dropped);
	simlog_jw_kuint(w, "failed", s->failed);
	simlog_jw_kuint(w, "spool_lost", s->spool_lost);
	simlog_jw_kuint(w, "blank", in->blank);
	simlog_jw_kuint(w, "batches", s->batches);
	simlog_jw_kuint(w, "stored_bytes", s->bytes);
	simlog_jw_kuint(w, "retries", s->retries);
	simlog_jw_kuint(w, "partial_bytes", in->partial);
	simlog_jw_kstr(w, "priority", prio[in->prio]);
	simlog_jw_kstr(w, "breaker", simlog_breaker_name(s->breaker));
	simlog_jw_key(w, "breaker_changes");
	simlog_jw_arr(w);
	for (int i = 0; i < s->nchanges; i++)
		simlog_jw_str(w, s->changes[i]);
	simlog_jw_close(w);
	simlog_jw_kdouble(w, "seconds", s->seconds, 3);
	simlog_jw_end(w);
}

int
simlog_writer_status(const struct simlog_writer_stats *s,
		     const struct simlog_writer_input *in)
{
	if (s->failed > 0 || s->spool_lost > 0 || s->spool_lost_unknown)
		return SIMLOG_EX_IOERR;		/* not stored anywhere */
	if (s->auth_failed)
		return SIMLOG_EX_NOPERM;	/* safe in the spool */
	if (s->config_failed)
		return SIMLOG_EX_CONFIG;	/* likewise */
	if (s->local_failed && s->spooled > 0 && s->spool_pending)
		return SIMLOG_EX_OSERR;		/* likewise; ours to mend */
	if (s->spooled > 0 && s->spool_pending)
		return SIMLOG_EX_TEMPFAIL;
	if (in->replay_only && in->left)
		return SIMLOG_EX_TEMPFAIL;
	if (s->dropped > 0)
		return SIMLOG_EX_UNAVAILABLE;
	return in->rejected > 0 ? SIMLOG_EX_DATAERR : SIMLOG_EX_OK;
}
