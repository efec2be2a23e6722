"""simlog.Writer against a real redis-server and simlog-drain: what is
written lands exactly, what JSON cannot hold is refused naming the field
and costs no other record, the summary is simlog-push's, the options and
environment are push's."""

import json
import logging
import os
import unittest

from helpers import Case, records, simlog


class Records(Case):

    def test_dicts_str_and_bytes_land_exactly(self):
        r = self.redis()
        recs = records(3000)
        with simlog.Writer(url=r.url, simulation="w1") as w:
            for i, rec in enumerate(recs):
                if i % 3 == 0:
                    w.write(rec)
                elif i % 3 == 1:
                    w.write(json.dumps(rec))
                else:
                    w.write(json.dumps(rec).encode())
        self.assertEqual(w.status, 0)
        self.drain(r.url)
        self.assert_exact(recs)

    def test_the_text_written_is_json_dumps_compact(self):
        r = self.redis()
        rec = {"type": "t", "s": "é\u2028\"\\\n\t\x01\x7f", "i": -2 ** 63,
               "big": 10 ** 30, "f": [0.1, 1e16, -0.0, 1e-7, 2.5],
               "n": None, "b": [True, False], "tuple": (1, (2,)),
               "nested": {"k": {"deep": []}}, 7: "int key"}
        with simlog.Writer(url=r.url, simulation="w2") as w:
            w.write(rec)
        self.drain(r.url)
        want = json.dumps(rec, ensure_ascii=False, separators=(",", ":"))
        self.assertEqual(self.landed(), [want])
        self.assertEqual(simlog.encode(rec).decode(), want)

    def test_integers_of_other_kinds_are_their_values(self):
        class Count:
            def __index__(self):
                return 42
        self.assertEqual(simlog.encode({"n": Count()}), b'{"n":42}')

    def test_what_json_cannot_hold_is_refused_naming_the_field(self):
        cases = [
            ({"type": "t", "x": float("nan")}, "field 'x': NaN"),
            ({"type": "t", "x": float("inf")}, "field 'x': Infinity"),
            ({"type": "t", "a": {"b": [0, float("-inf")]}},
             "field 'a.b[1]': -Infinity"),
            ({"type": "t", "raw": b"\x00\x01"}, "field 'raw': bytes"),
            ({"type": "t", "s": {1, 2}}, "field 's': a set"),
            ({"type": "t", "o": object()}, "field 'o': a object"),
            ({"type": "t", "u": "\ud800"}, "field 'u': a string with a "
             "lone surrogate"),
            ({"type": "t", "d": {(1, 2): 3}}, "field 'd.(1, 2)': a member "
             "named by a tuple"),
        ]
        deep = {"type": "t"}
        cur = deep
        for _ in range(300):
            cur["d"] = {}
            cur = cur["d"]
        cases.append((deep, "nested more than 256 deep"))
        r = self.redis()
        good = records(10)
        with simlog.Writer(url=r.url, simulation="w3") as w:
            w.write(good[0])
            for i, (rec, why) in enumerate(cases):
                with self.assertRaises(simlog.RefusedRecord) as cm:
                    w.write(rec)
                self.assertIn(why, str(cm.exception))
                self.assertIsInstance(cm.exception, ValueError)
                self.assertEqual(cm.exception.code, 65)
                w.write(good[1 + i % 9])
        s = w.close()
        self.assertEqual(s["rejected"], len(cases))
        self.assertEqual(s["read"], len(cases) * 2 + 1)
        self.assertEqual(s["pushed"], len(cases) + 1)
        self.assertEqual(w.status, 65)
        self.drain(r.url)
        self.assert_exact([good[0]] + [good[1 + i % 9]
                                       for i in range(len(cases))])

    def test_lines_the_library_refuses_cost_no_other_record(self):
        bad = ['{"type":"t",', "not json", '{"x":1}', '{"type":"a b"}',
               '{"type":"t","n":1}\n{"type":"t"}', b'{"type":"t","z":"\x00"}',
               '{"type":"sqlite_x"}', '{"type":"t","x":"' + "y" * 2000 + '"}']
        r = self.redis()
        good = records(len(bad) + 1)
        with simlog.Writer(url=r.url, simulation="w4", max_record=1024) as w:
            w.write(good[0])
            for i, line in enumerate(bad):
                with self.assertRaises(simlog.RefusedRecord):
                    w.write(line)
                w.write(good[i + 1])
            with self.assertRaises(TypeError):
                w.write(["a", "list"])
        self.assertEqual(w.close()["rejected"], len(bad))
        self.drain(r.url)
        self.assert_exact(good)

    def test_write_many_takes_the_rest_and_lists_the_refused(self):
        r = self.redis()
        recs = records(500)
        mixed = list(recs)
        mixed.insert(10, {"type": "t", "x": float("nan")})
        mixed.insert(300, "{oops")
        with simlog.Writer(url=r.url, simulation="w5") as w:
            self.assertEqual(w.write_many(records(0)), 0)
            with self.assertRaises(simlog.RefusedRecord) as cm:
                w.write_many(iter(mixed))
            self.assertEqual([i for i, _ in cm.exception.refused], [10, 300])
            self.assertIn("2 of 502 records refused", str(cm.exception))
        self.drain(r.url)
        self.assert_exact(recs)

    def test_type_and_type_field(self):
        r = self.redis()
        with simlog.Writer(url=r.url, simulation="w6", type="fixed") as w:
            w.write({"a": 1})
        with simlog.Writer(url=r.url, simulation="w6", type_field="kind") as w:
            w.write({"kind": "k", "a": 2})
            with self.assertRaisesRegex(simlog.RefusedRecord,
                                        'no "kind" field.*type_field='):
                w.write({"type": "t", "a": 3})
        self.drain(r.url)
        self.assertEqual(self.landed(), ['{"a":1}', '{"kind":"k","a":2}'])


class Summary(Case):

    def test_close_returns_simlog_push_summary_for_the_same_input(self):
        r = self.redis()
        lines = [json.dumps(x) for x in records(700)] + ["junk"]
        with simlog.Writer(url=r.url, simulation="s1", batch=100) as w:
            for line in lines:
                try:
                    w.write(line)
                except simlog.RefusedRecord:
                    pass
        mine = w.close()
        self.assertIs(w.close(), mine)      # once closed, the same
        _, out, _ = self.tool("simlog-push", "-u", r.url, "-s", "s1",
                              "--batch", "100", input="\n".join(lines),
                              ok=(65,))
        push = json.loads(out)
        self.assertEqual(list(mine), list(push))
        for k in push:
            if k not in ("seconds", "stored_bytes"):
                self.assertEqual(mine[k], push[k], k)
        self.assertEqual(w.status, 65)

    def test_stats_count_as_records_go(self):
        r = self.redis()
        w = simlog.Writer(url=r.url, simulation="s2")
        w.write_many(records(50))
        w.flush()
        st = self.wait_pushed(w, 50)
        self.assertEqual((st["records"], st["spooled"], st["sim"]),
                         (50, 0, "s2"))
        w.close()
        st = w.stats
        self.assertEqual((st["pushed"], st["breaker"], st["fatal"]),
                         (50, "closed", None))
        self.assertTrue(w.closed)
        with self.assertRaisesRegex(simlog.UsageError, "closed"):
            w.write({"type": "t"})

    def wait_pushed(self, w, n):
        from helpers import wait_until
        return wait_until("the records to be pushed",
                          lambda: w.stats["pushed"] == n and w.stats)


class Options(Case):

    def test_bad_options_raise_usage_errors_naming_them(self):
        bad = [({"priority": "urgent"}, "priority"),
               ({"batch": 0}, "batch"), ({"batch": 1.5}, "batch"),
               ({"timeout": 0}, "timeout"), ({"timeout": "2"}, "timeout"),
               ({"spool_max": 10}, "spool_max"),
               ({"retry_factor": 0.5}, "retry_factor"),
               ({"breaker_reset": 0}, "breaker_reset"),
               ({"simulation": "a b"}, "simulation name"),
               ({"type": "1x"}, "type"),
               ({"url": "http://x"}, "url"),
               ({"tls_ca": ""}, "tls_ca")]
        for kw, name in bad:
            with self.assertRaises(simlog.UsageError, msg=kw) as cm:
                simlog.Writer(**kw)
            self.assertIn(name, str(cm.exception))
            self.assertEqual(cm.exception.code, 64)
        with self.assertRaises(TypeError):
            simlog.Writer(tls_whatever=1)

    def test_environment_as_simlog_push_reads_it(self):
        r = self.redis()
        os.environ["SIMLOG_REDIS_URL"] = r.url
        os.environ["SIMLOG_SIM"] = "from_env"
        with simlog.Writer() as w:
            w.write({"type": "t", "a": 1})
        self.assertEqual(w.close()["sim"], "from_env")
        self.assertEqual(self.drain(r.url)["rows"], 1)
        os.environ["SIMLOG_RETRIES"] = "lots"
        with self.assertRaisesRegex(simlog.UsageError, "SIMLOG_RETRIES"):
            simlog.Writer()

    def test_what_the_library_says_goes_to_logging(self):
        with self.assertLogs("simlog", logging.WARNING) as cm:
            w = simlog.Writer(url="unix://" + self.path("nobody"),
                              simulation="o1", retries=0)
            w.write({"type": "t"})
            s = w.close()
        said = "\n".join(cm.output)
        self.assertIn("spooling records to", said)
        self.assertIn("1 records wait in the spool", said)
        self.assertEqual((s["spooled"], w.status), (1, 75))


class Errors(Case):

    def test_classes_by_exit_code(self):
        for cls, code, base in [
                (simlog.UsageError, 64, ValueError),
                (simlog.RefusedRecord, 65, ValueError),
                (simlog.NotFound, 66, LookupError),
                (simlog.Unavailable, 69, simlog.Error),
                (simlog.LocalError, 71, simlog.Error),
                (simlog.StorageError, 74, simlog.Error),
                (simlog.TemporaryFailure, 75, simlog.Error),
                (simlog.AuthError, 77, simlog.Error),
                (simlog.ConfigError, 78, simlog.Error),
                (simlog.Conflict, 79, simlog.Error)]:
            self.assertTrue(issubclass(cls, simlog.Error))
            self.assertTrue(issubclass(cls, base))
            self.assertEqual(cls.code, code)

    def test_a_refused_password_is_77_and_the_records_are_spooled(self):
        r = self.redis("main", "--requirepass", "right")
        pw = self.path("pw")
        with open(pw, "w") as f:
            f.write("wrong\n")
        w = simlog.Writer(url=r.url, simulation="e1", password_file=pw)
        w.write_many(records(20))
        s = w.close()
        self.assertEqual((s["spooled"], s["pushed"], w.status), (20, 0, 77))
        with open(pw, "w") as f:
            f.write("right\n")
        _, out, _ = self.tool("simlog-push", "-u", r.url, "--replay",
                              "--password-file", pw)
        self.assertEqual(json.loads(out)["replayed"], 20)


if __name__ == "__main__":
    unittest.main()
