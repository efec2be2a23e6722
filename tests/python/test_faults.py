"""simlog.Writer when Redis fails, each fault caused for real: frozen
(SIGSTOP) mid-stream and before the writer connects, killed (SIGKILL) and
restarted, down from the start, a refused password, a full spool.  A
producer paced like a simulation measures how long its longest write()
took; every test ends by comparing what landed with what was written:
nothing lost, nothing doubled, and what could not be stored counted
exactly.  The time bounds are generous ones (the timeout plus slack for a
loaded machine) that catch a writer that holds its caller up; measured
times are printed as # lines."""

import json
import os
import threading
import time
import unittest

from helpers import Case, measured, records, simlog, wait_until

TIMEOUT = 2.0           # the default --timeout
SLACK = 1.5             # for a loaded machine, as tests/faults.bats allows


class Producer:
    """Writes records at rate records/s in bursts every millisecond, each
    write() timed; fault(self) runs once Redis holds some records."""

    def __init__(self, w, recs, rate):
        self.w, self.recs, self.rate = w, recs, rate
        self.longest = 0.0
        self.written = 0

    def run(self, fault=None, when=None):
        t0 = time.monotonic()
        per = max(1, self.rate // 1000)
        th = None
        for i in range(0, len(self.recs), per):
            due = t0 + i / self.rate
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            for rec in self.recs[i:i + per]:
                a = time.monotonic()
                self.w.write(rec)
                d = time.monotonic() - a
                if d > self.longest:
                    self.longest = d
            self.written = i + per
            if fault is not None and th is None and when(self):
                th = threading.Thread(target=fault, daemon=True)
                th.start()
        if th is not None:
            th.join(60)
        measured("longest write: %.1f ms" % (self.longest * 1e3))
        return self


def pushed_some(p):
    return p.w.stats["pushed"] > 0


class Frozen(Case):

    def run_freeze(self, seconds, n, rate, sim):
        r = self.redis()
        recs = records(n, 1)
        w = simlog.Writer(url=r.url, simulation=sim)

        def freeze():
            r.freeze()
            time.sleep(seconds)
            r.thaw()
        p = Producer(w, recs, rate).run(freeze, pushed_some)
        s = w.close()
        measured("pushed %d, spooled %d, retries %d" % (
            s["pushed"], s["spooled"], s["retries"]))
        self.assertEqual(s["pushed"] + s["spooled"], n)
        self.assertEqual((s["failed"], s["dropped"], s["rejected"]),
                         (0, 0, 0))
        self.assertLess(p.longest, TIMEOUT + SLACK)
        self.replay(r.url)
        self.assertEqual(self.segments(), 0)
        self.drain(r.url)
        self.assert_exact(recs)

    def test_frozen_3s_mid_stream_no_write_held_past_the_timeout(self):
        self.run_freeze(3, 60000, 15000, "f1")

    def test_frozen_8s_longer_than_retries_it_spools_and_comes_back(self):
        with self.assertLogs("simlog") as cm:
            self.run_freeze(8, 100000, 10000, "f2")
        said = "\n".join(cm.output)
        self.assertIn("spooling records to", said)

    def test_frozen_before_it_connects_close_gives_up_by_itself(self):
        r = self.redis()
        r.freeze()
        recs = records(5000, 2)
        w = simlog.Writer(url=r.url, simulation="f3")
        p = Producer(w, recs, 50000).run()
        t = time.monotonic()
        s = w.close()
        measured("close took %.2f s" % (time.monotonic() - t))
        self.assertEqual((s["spooled"], s["pushed"], w.status), (5000, 0, 75))
        self.assertLess(p.longest, TIMEOUT + SLACK)
        r.thaw()
        self.assertEqual(self.replay(r.url), 5000)
        self.drain(r.url)
        self.assert_exact(recs)

    def test_priority_critical_waits_with_the_gil_released(self):
        """A critical writer waits for a frozen Redis; meanwhile the
        program's other threads run: one sees the write under way and
        thaws Redis, one keeps counting."""
        r = self.redis()
        w = simlog.Writer(url=r.url, simulation="f4", priority="critical",
                          deadline=60, flush_interval=0)
        state = {"in_write": None, "saw": None, "ticks": 0, "stop": False}

        def ticker():
            while not state["stop"]:
                state["ticks"] += 1
                time.sleep(0.001)

        def thawer():
            while True:
                since = state["in_write"]
                if since is not None and time.monotonic() - since > 0.5:
                    state["saw"] = state["ticks"]
                    break
                time.sleep(0.01)
            time.sleep(0.5)
            state["at_thaw"] = state["ticks"]
            r.thaw()
        threads = [threading.Thread(target=ticker, daemon=True),
                   threading.Thread(target=thawer, daemon=True)]
        r.freeze()
        for t in threads:
            t.start()
        recs = records(100000, 3)
        longest = 0
        for rec in recs:
            state["in_write"] = time.monotonic()
            w.write(rec)
            longest = max(longest, time.monotonic() - state["in_write"])
            state["in_write"] = None
        state["stop"] = True
        s = w.close()
        measured("longest write %.2f s; ticks while it waited: %d" % (
            longest, state["at_thaw"] - state["saw"]))
        # The thawer ran while a write was under way, and so did the
        # ticker: the GIL was not held.
        self.assertIsNotNone(state["saw"])
        self.assertGreater(state["at_thaw"], state["saw"])
        self.assertEqual((s["pushed"], s["spooled"], w.status),
                         (100000, 0, 0))
        self.drain(r.url)
        self.assert_exact(recs)


class Killed(Case):

    def test_killed_and_restarted_mid_stream(self):
        aof = ("--appendonly", "yes", "--appendfsync", "always")
        r = self.redis("main", *aof)
        recs = records(60000, 4)
        w = simlog.Writer(url=r.url, simulation="k1")

        def kill_restart():
            r.kill()
            time.sleep(1)
            r.start()
        p = Producer(w, recs, 15000).run(kill_restart, pushed_some)
        s = w.close()
        measured("pushed %d, spooled %d, retries %d" % (
            s["pushed"], s["spooled"], s["retries"]))
        self.assertEqual(s["pushed"] + s["spooled"], 60000)
        self.assertEqual(s["failed"], 0)
        self.assertLess(p.longest, TIMEOUT + SLACK)
        self.replay(r.url)
        self.drain(r.url)
        self.assert_exact(recs)


class Down(Case):

    def test_down_from_the_start_spooled_then_replayed_by_a_later_writer(self):
        r = self.redis(start=False)
        recs = records(40000, 5)
        w = simlog.Writer(url=r.url, simulation="d1")
        p = Producer(w, recs, 20000).run()
        s = w.close()
        self.assertEqual((s["spooled"], s["pushed"], w.status),
                         (40000, 0, 75))
        self.assertLess(p.longest, TIMEOUT + SLACK)
        self.assertGreater(self.segments(), 0)
        r.start()
        # The next writer to get through replays the spool (once the
        # breaker the failures opened lets it: a ping closes it).
        self.assertTrue(simlog.ping(url=r.url, wait=10)["ok"])
        later = records(10, 6)
        with simlog.Writer(url=r.url, simulation="d2") as w2:
            w2.write_many(later)
        self.assertEqual(w2.close()["replayed"], 40000)
        self.assertEqual(self.segments(), 0)
        self.drain(r.url)
        self.assert_exact(recs + later)

    def test_priority_low_drops_and_counts(self):
        w = simlog.Writer(url="unix://" + self.path("none"), simulation="d3",
                          priority="low")
        w.write_many(records(3000))
        s = w.close()
        self.assertEqual((s["dropped"], s["spooled"], w.status),
                         (3000, 0, 69))
        self.assertEqual(self.segments(), 0)

    def test_a_full_spool_raises_storage_error_and_counts_exactly(self):
        r = self.redis(start=False)
        w = simlog.Writer(url=r.url, simulation="d4", spool_max=65536,
                          batch=100, flush_interval=0)
        recs = records(1000000, 7)
        taken = 0
        # Until the spool is found full (by the writer's thread or by the
        # write that spools a chunk itself): from then on every write is
        # refused.
        with self.assertRaises(simlog.StorageError) as cm:
            for rec in recs:
                w.write(rec)
                taken += 1
        self.assertIn("is full", str(cm.exception))
        self.assertEqual(cm.exception.code, 74)
        s = w.close()
        measured("taken %d, spooled %d, failed %d" % (
            taken, s["spooled"], s["failed"]))
        # Every record offered is spooled or counted as failed, the one
        # refused too.
        self.assertEqual(s["spooled"] + s["failed"], taken + 1)
        self.assertEqual(w.status, 74)
        r.start()
        self.assertEqual(self.replay(r.url), s["spooled"])
        self.drain(r.url)
        landed = [json.loads(x) for x in self.landed()]
        self.assertEqual(len(landed), s["spooled"])
        # The refused record may be among them: the write that found the
        # spool full can have spooled its own chunk just before.
        want = {json.dumps(x, sort_keys=True) for x in recs[:taken + 1]}
        got = {json.dumps(x, sort_keys=True) for x in landed}
        self.assertEqual(len(got), len(landed))         # none doubled
        self.assertTrue(got <= want)


if __name__ == "__main__":
    unittest.main()
