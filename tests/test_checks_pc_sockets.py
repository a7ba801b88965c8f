"""The 06_producer_consumer and 07_sockets checks, called directly on corpus answers (no nbgrader).

Fast companions of the end-to-end corpus test: the reference passes every check, and each
named mistake fails the check built to catch it, with its sentence.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from student_code import define, sections

import mpcourse  # noqa: F401 (start method, by-value transport)
from mpcourse.checks import CheckFailed
from mpcourse.checks import producer_consumer as pc
from mpcourse.checks import sockets as sk

CORPUS = Path(__file__).resolve().parent / "corpus"


def answer(assignment: str, student: str, grade_id: str) -> dict:
    found = sections(CORPUS / assignment / f"{student}.py")
    source = found.get(grade_id) or sections(CORPUS / assignment / "reference.py")[grade_id]
    return define(source)


PIPELINE = "06_producer_consumer"
SOCKETS = "07_sockets"

CASES = [
    # (assignment, student, grade_id, check, argument names, words the failure must contain or None for pass)
    (PIPELINE, "reference", "pipeline", pc.check_consumer, ["consumer"], None),
    (PIPELINE, "reference", "pipeline", pc.check_run_pipeline_back_pressure,
     ["run_pipeline", "consumer", "producer"], None),
    (PIPELINE, "reference", "joinable_pipeline", pc.check_run_joinable_slow, ["run_joinable"], None),
    (PIPELINE, "stops_on_empty", "pipeline", pc.check_consumer, ["consumer"], "empty"),
    (PIPELINE, "single_sentinel", "pipeline", pc.check_run_pipeline,
     ["run_pipeline", "consumer", "producer"], "one None per consumer"),
    (PIPELINE, "unbounded_queue", "pipeline", pc.check_run_pipeline_back_pressure,
     ["run_pipeline", "consumer", "producer"], "Queue(maxsize)"),
    (PIPELINE, "non_daemon_left_running", "joinable_pipeline", pc.check_run_joinable, ["run_joinable"],
     "still running"),
    (SOCKETS, "reference", "framing", sk.check_recv_msg_split_stream, ["recv_msg"], None),
    (SOCKETS, "reference", "serve", sk.check_serve_concurrently, ["serve"], None),
    (SOCKETS, "reference", "udp_request", sk.check_udp_request_gives_up, ["udp_request"], None),
    (SOCKETS, "recv_n_assumed_full", "framing", sk.check_recv_msg_split_stream, ["recv_msg"], "one byte"),
    (SOCKETS, "little_endian_prefix", "framing", sk.check_send_msg_wire_format, ["send_msg"], "little-endian"),
    (SOCKETS, "spin_on_empty_bytes", "framing", sk.check_recv_msg_close, ["recv_msg"], "ConnectionError"),
    (SOCKETS, "parent_keeps_conn", "serve", sk.check_serve_concurrently, ["serve"], "EOF"),
    (SOCKETS, "udp_no_timeout", "udp_request", sk.check_udp_request_retries, ["udp_request"], "settimeout"),
]


@pytest.mark.parametrize("assignment, student, grade_id, check, names, words", CASES,
                         ids=[f"{c[1]}-{c[3].__name__}" for c in CASES])
def test_check(assignment, student, grade_id, check, names, words):
    namespace = answer(assignment, student, grade_id)
    args = [namespace[name] for name in names]
    if words is None:
        check(*args)
        return
    with pytest.raises(CheckFailed) as caught:
        check(*args)
    assert words in str(caught.value)
