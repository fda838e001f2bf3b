"""One vocabulary (console/status.py): every face's word reads back as the member that wrote it,
documents keep the words scripts already read, and an unknown word is a failure, never a pass."""

from __future__ import annotations

import pytest

from console.drill import OUTCOMES
from console.monitor import SEVERITIES
from console.preflight import CheckResult
from console.status import Status
from console.verify.model import FAILED, PASSED, SKIPPED, WARNING


@pytest.mark.parametrize("status", list(Status))
def test_each_faces_word_reads_back_as_the_same_member(status):
    for word in (status.value, status.check_word, status.report_word, status.outcome):
        assert Status.of(word) is status


def test_documents_keep_their_words():
    assert CheckResult("x", "x", Status.OK, "").as_json()["status"] == "pass"
    assert (PASSED, WARNING, FAILED, SKIPPED) == ("passed", "warning", "failed", "skipped")
    assert OUTCOMES == ("ok", "warn", "fail", "override", "skipped", "cancelled")
    assert SEVERITIES == ("ok", "warning", "critical")
    assert Status.of("critical") is Status.FAIL and Status.FAIL.severity == "critical"


@pytest.mark.parametrize("word", ["", None, "PASSED", "succeeded", "expired"])
def test_a_word_nobody_wrote_is_a_failure(word):
    assert Status.of(word) is Status.FAIL
    assert not Status.of(word).passes


def test_gates_pass_what_a_warning_would():
    assert {status for status in Status if status.passes} == {Status.OK, Status.WARN, Status.SKIP, Status.OVERRIDE}
