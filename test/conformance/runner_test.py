#!/usr/bin/env python3
"""Unit tests of the conformance runner's parser and scorer (runner.py), on small captures
of iscsi-test-cu -d -v -V output (testdata/; trimmed from real runs against stmfd;
`Inquiry.Quiet` in skips.log is a made-up test that logs nothing, so that CUnit prints its
verdict on the `Test:` line)."""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import runner  # noqa: E402


def log(name):
    return runner.read(os.path.join(HERE, "testdata", name))


class Parse(unittest.TestCase):
    def test_skips_at_both_levels_and_a_quiet_test(self):
        p = runner.parse(log("skips.log"))
        v = {t: r["verdict"] for t, r in p["tests"].items()}
        self.assertEqual(v, {"MultipathIO.Simple": "skip", "MultipathIO.Reset": "skip",
                             "WriteSame16.ZeroBlocks": "skip",  # only -V shows its skipped checks
                             "WriteSame16.WriteProtect": "pass", "Inquiry.Quiet": "pass"})
        self.assertEqual(p["tests"]["WriteSame16.ZeroBlocks"]["skips"][0], "[SKIPPED] LUN too small. Skipping assert")
        self.assertEqual(p["summary_ran"], 5)

    def test_failures_with_trailing_text(self):
        p = runner.parse(log("failures.log"))
        v = {t: r["verdict"] for t, r in p["tests"].items()}
        self.assertEqual(v, {"StartStopUnit.PwrCnd": "fail", "StartStopUnit.NoLoej": "fail"})
        self.assertEqual(p["summary_ran"], 2)

    def test_login_refused_runs_nothing(self):
        p = runner.parse(log("login_refused.log"))
        self.assertEqual(p["tests"], {})
        self.assertIsNone(p["summary_ran"])

    def test_a_test_without_verdict_fails(self):
        p = runner.parse(log("truncated.log"))
        self.assertEqual(p["tests"]["MultipathIO.Simple"]["verdict"], "skip")
        self.assertEqual(p["tests"]["Read10.Simple"]["verdict"], "fail")
        self.assertIsNone(p["summary_ran"])


class Families(unittest.TestCase):
    LIST = ["ALL", "ALL.Prin", "ALL.PrinReadKeys", "ALL.PrinReadKeys.Simple", "ALL.PrinServiceactionRange.Simple",
            "ALL.ProutRegister.Simple", "ALL.Read10.Simple", "ALL.Read10.BeyondEol", "SCSI.Read10.Simple"]

    def test_patterns(self):
        self.assertEqual(runner.expected_tests("ALL.Prin*", self.LIST), ["PrinReadKeys.Simple", "PrinServiceactionRange.Simple"])
        self.assertEqual(runner.expected_tests("ALL.Read10,ALL.ProutRegister", self.LIST),
                         ["ProutRegister.Simple", "Read10.Simple", "Read10.BeyondEol"])
        self.assertEqual(len(runner.expected_tests("ALL", self.LIST)), 5)
        self.assertEqual(runner.expected_tests("ALL.Read10.Simple", self.LIST), ["Read10.Simple"])
        self.assertEqual(runner.expected_tests("ALL.Nothing", self.LIST), [])


class Score(unittest.TestCase):
    SKIPS = runner.parse(log("skips.log"))
    EXPECTED = ["MultipathIO.Simple", "MultipathIO.Reset", "WriteSame16.ZeroBlocks", "WriteSame16.WriteProtect", "Inquiry.Quiet"]
    TOLERATE = {"MultipathIO.*": "two paths", "WriteSame16.ZeroBlocks": "LU size"}

    def problems(self, spec, parsed=None, expected=None, status=0, timed_out=False):
        return runner.score(spec, parsed or self.SKIPS, self.EXPECTED if expected is None else expected, status, timed_out)[0]

    def test_holds(self):
        self.assertEqual(self.problems({"require": ["*"], "tolerated_skips": self.TOLERATE}), [])

    def test_unlisted_skip_fails(self):
        pr = self.problems({"require": ["*"], "tolerated_skips": {"MultipathIO.*": "two paths"}})
        self.assertEqual(pr, ["REQUIRED WriteSame16.ZeroBlocks: skip ([SKIPPED] LUN too small. Skipping assert)"])
        pr = self.problems({"require": ["Inquiry.*"], "tolerated_skips": {"MultipathIO.*": "two paths"}})
        self.assertEqual(pr, ["UNLISTED SKIP WriteSame16.ZeroBlocks ([SKIPPED] LUN too small. Skipping assert)"])

    def test_required_test_skipped_fails(self):
        pr = self.problems({"require": ["WriteSame16.ZeroBlocks"], "tolerated_skips": self.TOLERATE})
        self.assertIn("REQUIRED WriteSame16.ZeroBlocks: skip ([SKIPPED] LUN too small. Skipping assert)", pr)

    def test_required_test_not_run_fails(self):
        pr = self.problems({"require": ["ReadOnly.*"], "tolerated_skips": self.TOLERATE})
        self.assertEqual(pr, ["REQUIRED ReadOnly.*: the families run by this pass do not include it"])

    def test_missing_verdict_fails(self):
        pr = self.problems({"tolerated_skips": self.TOLERATE}, expected=self.EXPECTED + ["Inquiry.Hidden"])
        self.assertEqual(pr, ["MISSING Inquiry.Hidden: the families run it, but it has no verdict"])

    def test_stale_tolerance_fails(self):
        pr = self.problems({"tolerated_skips": dict(self.TOLERATE, **{"Read10.*": "gone"})})
        self.assertEqual(pr, ["TOLERATED SKIP Read10.* did not occur: remove it from passes.json"])

    def test_no_test_ran_fails(self):
        parsed = runner.parse(log("login_refused.log"))
        pr = self.problems({"require": ["*"]}, parsed=parsed, status=255)
        self.assertTrue(any(p.startswith("no test ran") for p in pr), pr)
        self.assertIn("iscsi-test-cu exited with status 255", pr)

    def test_exit_status_must_agree(self):
        pr = self.problems({"tolerated_skips": self.TOLERATE}, status=1)
        self.assertEqual(pr, ["iscsi-test-cu exited with status 1 but no test verdict is FAILED"])
        pr = self.problems({"tolerated_skips": self.TOLERATE}, status=-11)
        self.assertEqual(pr, ["iscsi-test-cu exited with status -11"])
        pr = self.problems({"tolerated_skips": self.TOLERATE}, status=None, timed_out=True)
        self.assertEqual(pr, ["iscsi-test-cu timed out"])

    def test_truncated_run_fails(self):
        parsed = runner.parse(log("truncated.log"))
        pr = self.problems({"tolerated_skips": {"MultipathIO.*": "two paths"}}, parsed=parsed,
                           expected=["MultipathIO.Simple", "Read10.Simple"], status=0)
        self.assertIn("no run summary: iscsi-test-cu stopped during the run", pr)
        self.assertIn("FAIL Read10.Simple", pr)

    def test_deviations_only_as_exactly_those_failures(self):
        fails = runner.parse(log("failures.log"))
        exp = ["StartStopUnit.PwrCnd", "StartStopUnit.NoLoej"]
        both = {"StartStopUnit.NoLoej": "standard", "StartStopUnit.PwrCnd": "standard"}
        self.assertEqual(self.problems({"require": ["StartStopUnit.*"], "deviations": both}, parsed=fails, expected=exp, status=1), [])
        # Without them listed (another pass): plain failures.
        pr = self.problems({"require": ["StartStopUnit.*"]}, parsed=fails, expected=exp, status=1)
        self.assertEqual(pr, ["REQUIRED StartStopUnit.PwrCnd: fail", "REQUIRED StartStopUnit.NoLoej: fail"])
        pr = self.problems({"require": ["StartStopUnit.PwrCnd"]}, parsed=fails, expected=exp, status=1)
        self.assertEqual(pr, ["REQUIRED StartStopUnit.PwrCnd: fail", "FAIL StartStopUnit.NoLoej"])
        # A deviation that no longer fails is stale.
        pr = self.problems({"deviations": {"MultipathIO.Simple": "x"}, "tolerated_skips": self.TOLERATE})
        self.assertEqual(pr, ["DEVIATION MultipathIO.Simple did not fail (skip): remove it from passes.json and docs/conformance.md"])


class Passes(unittest.TestCase):
    def test_the_project_passes_are_well_formed(self):
        passes = runner.load_passes(os.path.join(HERE, "passes.json"))
        self.assertEqual(passes["alua_conformance_standby_all"]["tolerated_skips"], passes["conformance_all"]["tolerated_skips"])
        for name, spec in passes.items():
            self.assertTrue(spec.get("require"), f"{name} names no test it exists to run")
            for why in list(spec.get("tolerated_skips", {}).values()) + list(spec.get("deviations", {}).values()):
                self.assertTrue(why.strip(), f"{name}: a skip or deviation without its reason")
        # The two documented deviations are accepted in the removable pass only.
        for name, spec in passes.items():
            devs = set(spec.get("deviations", {}))
            self.assertEqual(devs, {"StartStopUnit.NoLoej", "StartStopUnit.PwrCnd"} if name == "conformance_removable" else set(), name)


if __name__ == "__main__":
    unittest.main()
