"""simlog.Writer in a program's life: shared by threads, across os.fork()
and multiprocessing workers, and at the end of the interpreter when the
program never closed it.  Each ends comparing what landed with what was
written, exactly."""

import gc
import json
import multiprocessing
import os
import threading
import unittest

from helpers import Case, python, records, simlog, wait_until


class Threads(Case):

    def test_eight_threads_share_one_writer(self):
        r = self.redis()
        w = simlog.Writer(url=r.url, simulation="t1", batch=64)
        per = [records(5000, seed) for seed in range(8)]
        errors = []
        done = threading.Event()

        def produce(recs, as_text):
            try:
                for rec in recs:
                    w.write(json.dumps(rec) if as_text else rec)
            except Exception as e:          # reported below
                errors.append(e)

        def watch():
            while not done.is_set():
                w.stats
                w.flush()
        threads = [threading.Thread(target=produce, args=(recs, i % 2))
                   for i, recs in enumerate(per)]
        watcher = threading.Thread(target=watch)
        for t in threads + [watcher]:
            t.start()
        for t in threads:
            t.join()
        done.set()
        watcher.join()
        self.assertEqual(errors, [])
        s = w.close()
        self.assertEqual((s["read"], s["pushed"]), (40000, 40000))
        self.drain(r.url)
        self.assert_exact([x for recs in per for x in recs])

    def test_close_from_another_thread_while_one_writes(self):
        r = self.redis()
        w = simlog.Writer(url=r.url, simulation="t2")
        taken = []

        def produce():
            for rec in records(200000, 9):
                try:
                    w.write(rec)
                except simlog.UsageError:
                    return          # closed under it
                taken.append(rec)
        t = threading.Thread(target=produce)
        t.start()
        wait_until("some records", lambda: len(taken) > 1000)
        s = w.close()
        t.join()
        self.assertEqual(s["pushed"], len(taken))
        self.drain(r.url)
        self.assert_exact(taken)


class Fork(Case):

    def test_a_parent_writer_is_refused_in_the_child_its_own_works(self):
        r = self.redis()
        w = simlog.Writer(url=r.url, simulation="p1")
        a, b, c = records(1000, 1), records(1000, 2), records(1000, 3)
        w.write_many(a)
        # A thread of the parent is inside the writer when it forks: the
        # child must not wait for the lock that thread holds.
        stop = threading.Event()
        busy = records(10 ** 6, 4)
        sent = []

        def keep_writing():
            for rec in busy:
                if stop.is_set():
                    return
                w.write(rec)
                sent.append(rec)
        t = threading.Thread(target=keep_writing)
        t.start()
        wait_until("the thread to write", lambda: len(sent) > 100)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                for call in (lambda: w.write(c[0]), w.flush,
                             lambda: w.stats, w.close):
                    try:
                        call()
                        os._exit(2)
                    except simlog.UsageError as e:
                        if "before a fork" not in str(e):
                            os._exit(3)
                with simlog.Writer(url=r.url, simulation="p1child") as own:
                    own.write_many(c)
                code = 0 if own.status == 0 else 4
            finally:
                os._exit(code)
        stop.set()
        t.join()
        w.write_many(b)
        _, status = os.waitpid(pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0)
        s = w.close()
        self.assertEqual(s["pushed"], 2000 + len(sent))
        self.drain(r.url)
        self.assert_exact(a + b + c + sent)

    def test_multiprocessing_workers_open_their_own(self):
        r = self.redis()
        ctx = multiprocessing.get_context("fork")
        parent = simlog.Writer(url=r.url, simulation="mp")
        parent.write_many(records(100, 100))
        with ctx.Pool(3) as pool:
            res = pool.starmap(_worker, [(r.url, seed) for seed in range(6)])
        self.assertEqual(res, [0] * 6)
        # A worker that never closes its writer: its process ends through
        # multiprocessing's finalizers, which close it.
        p = ctx.Process(target=_worker_unclosed, args=(r.url, 50))
        p.start()
        p.join(60)
        self.assertEqual(p.exitcode, 0)
        parent.close()
        self.drain(r.url)
        self.assert_exact(records(100, 100) +
                          [x for s in range(6) for x in records(300, s)] +
                          records(2000, 50))


def _worker(url, seed):
    with simlog.Writer(url=url, simulation="mp%d" % seed) as w:
        w.write_many(records(300, seed))
    return w.status


def _worker_unclosed(url, seed):
    w = simlog.Writer(url=url, simulation="mpu")
    w.write_many(records(2000, seed))
    _worker_unclosed.keep = w       # alive to the end, never closed


class Exit(Case):

    CODE = """
import sys, simlog
sys.path.insert(0, %r)
from helpers import records
w = simlog.Writer(url=sys.argv[1], simulation="x")
w.write_many(records(int(sys.argv[2]), 8))
if sys.argv[3] == "raise":
    raise SystemExit("ending with an exception")
"""

    def run_unclosed(self, url, n, how):
        here = os.path.dirname(os.path.abspath(__file__))
        return python(self.CODE % here, url, str(n), how)

    def test_interpreter_exit_without_close_sends_everything(self):
        r = self.redis()
        p = self.run_unclosed(r.url, 30000, "return")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.run_unclosed(r.url, 30000, "raise")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.drain(r.url)
        self.assert_exact(records(30000, 8) * 2)

    def test_interpreter_exit_without_close_spools_when_redis_is_down(self):
        r = self.redis(start=False)
        p = self.run_unclosed(r.url, 20000, "return")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("20000 records wait in the spool", p.stderr)
        r.start()
        self.assertEqual(self.replay(r.url), 20000)
        self.drain(r.url)
        self.assert_exact(records(20000, 8))

    def test_a_writer_collected_unclosed_is_closed(self):
        r = self.redis()
        w = simlog.Writer(url=r.url, simulation="gc")
        w.write_many(records(500, 11))
        del w
        gc.collect()
        self.drain(r.url)
        self.assert_exact(records(500, 11))


if __name__ == "__main__":
    unittest.main()
