"""simlog.State and simlog.ping: what simlog-state and simlog-ping do and
print, from Python, over the same library."""

import json
import os
import unittest

from helpers import Case, simlog


class State(Case):

    def test_save_load_versions_list_rollback_delete_prune(self):
        r = self.redis()
        with simlog.State(url=r.url) as st:
            m1 = st.save("run.1", {"agents": [1, 2], "t": 0.5},
                         tags=("seed", "a"))
            m2 = st.save("run.1", '{"agents": [3]}', compress="zlib")
            m3 = st.save("run.1", b"\x00\xffraw", raw=True, ttl=3600)
            self.assertEqual([m["version"] for m in (m1, m2, m3)], [1, 2, 3])
            self.assertEqual((m1["tags"], m2["compression"], m3["format"]),
                             (["seed", "a"], "zlib", "raw"))
            self.assertIsNotNone(m3["expires_at"])
            self.assertEqual(st.load("run.1", 1), b'{"agents":[1,2],"t":0.5}')
            self.assertEqual(st.load("run.1", 2), b'{"agents": [3]}')
            self.assertEqual(st.load("run.1"), b"\x00\xffraw")
            self.assertEqual([m["version"] for m in st.versions("run.1")],
                             [1, 2, 3])
            st.save("other", [1])
            self.assertEqual(sorted(m["id"] for m in st.list()),
                             ["other", "run.1"])
            self.assertEqual([m["id"] for m in st.list(match="run.*")],
                             ["run.1"])
            self.assertEqual(st.list(tags="seed"), [])   # latest has none
            back = st.rollback("run.1", 1)
            self.assertEqual((back["version"], back["rollback_of"]), (4, 1))
            self.assertEqual(st.load("run.1"), st.load("run.1", 1))
            self.assertEqual([m["id"] for m in st.list(tags="seed")],
                             ["run.1"])
            self.assertEqual(st.delete("run.1", 2), 1)
            self.assertEqual(st.prune("run.1", 1), 2)
            self.assertEqual([m["version"] for m in st.versions("run.1")],
                             [4])
            self.assertEqual(st.delete("other"), 1)

    def test_the_metadata_is_what_simlog_state_prints(self):
        r = self.redis()
        st = simlog.State(url=r.url)
        st.save("m", {"x": 1}, tags=["t1"])
        _, out, _ = self.tool("simlog-state", "-u", r.url, "meta", "m")
        self.assertEqual(st.meta("m"), json.loads(out))
        _, out, _ = self.tool("simlog-state", "-u", r.url, "list")
        self.assertEqual(st.list(), [json.loads(x) for x in
                                     out.splitlines()])
        st.close()
        with self.assertRaises(simlog.UsageError):
            st.load("m")

    def test_errors_by_class(self):
        r = self.redis()
        st = simlog.State(url=r.url)
        st.save("e", {"v": 1})
        with self.assertRaises(simlog.NotFound):
            st.load("nope")
        with self.assertRaises(simlog.NotFound):
            st.load("e", 9)
        with self.assertRaises(simlog.Conflict):
            st.save("e", {"v": 2}, expect_version=0)
        self.assertEqual(st.save("e", {"v": 2}, expect_version=1)["version"],
                         2)
        for bad in ("not json", '{"a": NaN}', b"{", ""):
            with self.assertRaises(simlog.RefusedRecord):
                st.save("e", bad)
        with self.assertRaises(simlog.RefusedRecord):
            st.save("e", {"x": float("nan")})
        with self.assertRaises(simlog.UsageError):
            st.save("bad id!", {})
        with self.assertRaises(simlog.UsageError):
            st.save("e", {}, compress="gzip")
        with self.assertRaises(simlog.UsageError):
            st.rollback("e", 0)
        st.close()
        down = simlog.State(url="unix://" + self.path("none"))
        with self.assertRaises(simlog.Unavailable):
            down.load("e")

    def test_a_damaged_stored_state_is_refused(self):
        r = self.redis()
        st = simlog.State(url=r.url)
        st.save("d", {"payload": "x" * 1000}, compress="none")
        r.cli("SETRANGE", "simlog:state:{d}:data:1", "10", "Z")
        with self.assertRaises(simlog.RefusedRecord) as cm:
            st.load("d")
        self.assertEqual(cm.exception.code, 65)


class Ping(Case):

    def test_a_ping_reports_what_simlog_ping_reports(self):
        r = self.redis()
        mine = simlog.ping(url=r.url, check=True, count=2)
        rc, out, _ = self.tool("simlog-ping", "-u", r.url, "--check",
                               "-c", "2")
        tool = json.loads(out)
        self.assertEqual(list(mine), list(tool))
        for k in ("ok", "url", "pings", "server", "findings", "problems",
                  "warnings"):
            if k == "server":
                mine[k].pop("uptime"), tool[k].pop("uptime")
            self.assertEqual(mine[k], tool[k], k)

    def test_a_redis_that_does_not_answer_raises_with_the_report(self):
        with self.assertRaises(simlog.Unavailable) as cm:
            simlog.ping(url="unix://" + self.path("none"), count=1)
        rep = cm.exception.report
        self.assertEqual((rep["ok"], rep["pings"]), (False, 0))
        self.assertIn("cannot connect", rep["error"])
        r = self.redis("pw", "--requirepass", "s3cret")
        with self.assertRaises(simlog.AuthError):
            simlog.ping(url=r.url)
        pw = self.path("pw")
        with open(pw, "w") as f:
            f.write("s3cret\n")
        self.assertTrue(simlog.ping(url=r.url, password_file=pw)["ok"])


if __name__ == "__main__":
    unittest.main()
