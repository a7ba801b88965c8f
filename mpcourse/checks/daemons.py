"""Checks for assignment 02_daemons: start_background, run_with_deadline.

The student's function runs in the stage (``mpcourse.judge``), in a thread of its main
process (the caller), or in a caller process of its own where the check needs a parent
that exits. The targets are course functions of this module, built to expose a mistake
every time: a job that never ends (joining it hangs), a child that dies only when the
judge lets it after SIGTERM (so ``exitcode`` read right after ``terminate()`` is None),
a child that ignores SIGTERM (only ``kill()`` ends it). They report to the judge through
a ``Recorder`` (the judge times each report and knows the sending process from the
kernel); the judge asks the operating system which processes of the stage still live.
Exit codes come back as the student's return value (plain data).

Test plan (COURSE_SPEC.md; every check fails every implementation that violates its
dimension, on every run and start method):

``start_background(target, args=()) -> Process``
  * timing: the job never ends, so a ``join()`` makes the call hang: still no return 3 s
    after the job began (start() returned long before) -> ``start_background/joins-daemon``
    (``check_start_background_returns_a_running_daemon``, the visible test, with where it is stuck);
  * process structure: the job reporting from the caller's pid ran in the caller
    -> ``start_background/run-not-start``; ``daemon`` set after ``start()`` raises
    AssertionError (or, swallowed, leaves a non-daemon) -> ``start_background/daemon-after-start``,
    ``start_background/not-daemon``; the process returned must be started, alive (the OS
    says), and be the one running ``target(*args)`` with the args given
    -> ``start_background/not-started``, ``start_background/not-alive``, ``start_background/no-job``,
    ``start_background/args-lost``, ``start_background/not-a-process``;
  * leftovers, observed: a caller process started for the check calls
    ``start_background(job)`` with no args (the default) and exits normally; a non-daemon
    keeps it from exiting (the caller and the job then sit blocked, all threads asleep, and
    the job never gets SIGTERM), and any job the OS still shows after it exited outlived its
    parent (``check_start_background_dies_with_its_parent``) -> ``start_background/not-daemon``,
    ``start_background/outlives-parent``;
  * exceptions: ``start_background/raised``.
``run_with_deadline(target, args, timeout) -> int``
  * timing and the central mistake: a target that runs past the timeout and, after SIGTERM,
    dies only when the judge lets it (when the call returns, or after 2 s of the caller's own
    time, ``_CallerClock``, however starved of CPU it is, but not while it sleeps on a timer):
    reading ``exitcode`` without ``join()`` (or after any sleep, or a short ``join(timeout)``
    and no ``kill()``) gives None every time -> ``run_with_deadline/exitcode-none``;
    a made-up code returned while the child is still dying -> ``run_with_deadline/child-left-running``
    (``check_run_with_deadline_stops_a_late_target``, the visible test); stopped before
    ``timeout`` (``terminate()``/``kill()`` are timed in the caller from their process's
    ``start()``) -> ``run_with_deadline/stopped-early``; returned more than 5 s after SIGTERM
    (or the deadline) -> ``run_with_deadline/too-slow``; never stopped -> ``run_with_deadline/no-terminate``
    or ``run_with_deadline/hangs`` (no return 8 s past SIGTERM, or past the deadline counted from
    when the child began); stopped, its SIGTERM handler in place, but the judge never heard
    that SIGTERM arrived (``kill()`` straight away, POSIX) -> ``run_with_deadline/no-terminate``
    (in every late-target check);
  * a target that ignores SIGTERM (POSIX): only ``kill()`` ends it -> ``run_with_deadline/no-kill``,
    ``run_with_deadline/hangs`` (``check_run_with_deadline_kills_a_target_that_ignores_sigterm``);
  * values: ``sys.exit(3)`` gives 3, a normal return 0, a target with no args (``()``),
    returned within ``timeout`` of the target's end; a job that runs forever (and dies at once
    on SIGTERM) a negative int -> ``run_with_deadline/wrong-code``, ``run_with_deadline/too-slow``
    (``check_run_with_deadline_returns_the_exit_code``); never None, never a bool
    -> ``run_with_deadline/not-an-int``; a run whose child ended its work only in the second half of
    the timeout, or never began (a loaded machine), proves nothing about the code: it runs again
    with a longer timeout (``CODE_TIMEOUTS``); a return more than 1.5 s after the target ended is
    judged too slow only if it happens again in two more runs (a dawdler dawdles every time, a
    caller starved by a loaded machine does not);
  * process structure: exactly one ordinary (non-daemon) child runs the target, never the
    caller -> ``run_with_deadline/run-not-start``, ``run_with_deadline/daemon-child``,
    ``run_with_deadline/no-child``; leftovers: the OS must show no process of the stage
    but the stage and helpers after the return -> ``run_with_deadline/child-left-running``;
  * exceptions: ``run_with_deadline/raised``.
A run in which the child was stopped before its signal handler was in place (a slow
start on a loaded machine) proves nothing: the check runs again with a longer timeout.
Signals other than terminate()/kill() do not exist on Windows: there the SIGTERM cases
only check that a negative exit code comes back.
"""
from __future__ import annotations

import os
import signal
import threading
import time

from . import Verdict, check, failed, passed
from .processes import (
    CALLER, RUN_NOT_START, Targets, ask_aside, begin, caller_span, exit_with, runnable, sleep_in_steps, stage_lost,
    where_stuck,
)

# Waits are anchored on what the judge sees happen (a job begins, SIGTERM arrives), so that
# a loaded machine, where a child may take seconds to start, never fails a correct answer.
AFTER_BEGIN = 3.0           # s start_background may still run once its job runs (start() returned long before)
JOB_LIMIT = 30.0            # s a job, a caller process, or a target gets to begin
DYING = 2.0                 # s (of the caller's own time) the judge holds a slow target after SIGTERM
SIGNALS = os.name == "posix"
TOO_SLOW = 0.5              # of the timeout: returning this long after the target ended ignores join(timeout)


# ----------------------------------------------------------------------------------
# targets and drivers (run in the stage, next to the student's code)

def _on_sigterm(handler) -> None:
    if SIGNALS:
        signal.signal(signal.SIGTERM, handler)


def _die_of_sigterm() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
    sleep_in_steps(5)


def _run_forever(rec, on_sigterm) -> None:
    _on_sigterm(on_sigterm)
    rec.state("running", "ready")          # its signal handler is in place
    while True:
        time.sleep(0.05)


def sleep_forever(rec, label: str = "") -> None:
    """A job that never ends on its own; SIGTERM ends it at once."""
    if not begin(rec, label):
        return

    def on_sigterm(signum, frame):
        ask_aside(rec, "sigterm")
        _die_of_sigterm()

    _run_forever(rec, on_sigterm)


def die_slowly_on_sigterm(rec) -> None:
    """Runs forever; after SIGTERM it dies only when the judge lets it (it holds it while the call waits)."""
    if not begin(rec, "runs past the deadline, dies slowly"):
        return

    def on_sigterm(signum, frame):
        ask_aside(rec, "sigterm")
        _die_of_sigterm()

    _run_forever(rec, on_sigterm)


def ignore_sigterm_forever(rec) -> None:
    """Runs forever and ignores SIGTERM: only kill() (SIGKILL, which cannot be caught) ends it."""
    if not begin(rec, "ignores SIGTERM"):
        return

    def on_sigterm(signum, frame):
        threading.Thread(target=rec.mark, args=("SIGTERM ignored",), daemon=True).start()

    _run_forever(rec, on_sigterm)


def work_then_exit(rec, seconds: float, code: int) -> None:
    """Work for ``seconds``, then end with exit code ``code``."""
    if not begin(rec, f"exit code {code}"):
        return
    sleep_in_steps(seconds)
    rec.state("exited", f"exit code {code}")
    exit_with(code)


class NeverEnding:
    """A job called with no arguments (``start_background(job)``, ``run_with_deadline(job, (), t)``)."""

    def __init__(self, rec, seconds: float | None = None):
        self.rec = rec
        self.seconds = seconds

    def __call__(self) -> None:
        if self.seconds is None:
            sleep_forever(self.rec, "called with no arguments")
        else:
            work_then_exit(self.rec, self.seconds, 0)


def call_timing_stops(run_with_deadline, target, args, timeout, rec):
    """Call ``run_with_deadline(target, args, timeout)``; each terminate()/kill() tells the judge how long after
    its process's start() returned it came, timed here, in the caller, where the student's own clock runs."""
    from multiprocessing.process import BaseProcess

    started: dict[int, float] = {}
    original = {name: getattr(BaseProcess, name) for name in ("start", "terminate", "kill")}

    def start(self):
        original["start"](self)
        started[id(self)] = time.perf_counter()

    def stopper(name):
        def stop(self):
            if id(self) in started and self.exitcode is None:
                rec.ask("stopping", name, time.perf_counter() - started[id(self)])
            original[name](self)
        return stop

    BaseProcess.start, BaseProcess.terminate, BaseProcess.kill = start, stopper("terminate"), stopper("kill")
    try:
        return run_with_deadline(target, args, timeout)
    finally:
        for name, method in original.items():
            setattr(BaseProcess, name, method)


def describe_process(p) -> dict:
    """What the student's function returned, as plain data (a claim: the judge checks it against the OS)."""
    from multiprocessing.process import BaseProcess

    info = {"type": type(p).__name__, "is_process": isinstance(p, BaseProcess), "pid": None, "daemon": None,
            "alive": None}
    if info["is_process"]:
        for key, read in (("pid", lambda: p.pid), ("daemon", lambda: bool(p.daemon)), ("alive", p.is_alive)):
            try:
                info[key] = read()
            except Exception:  # noqa: BLE001 (a half-made process: the judge says so)
                pass
    return info


def drive_start_background(start_background, target, args) -> dict:
    """Call ``start_background(target, args)`` as a caller would; report what it returned."""
    return describe_process(start_background(target, args))


def start_background_then_exit(start_background, rec) -> dict:
    """A caller process: start a never-ending job with ``start_background(job)`` (no args), then exit normally."""
    rec.ask("caller")
    report = describe_process(start_background(NeverEnding(rec)))
    report["job_began"] = bool(report["pid"] is not None and rec.ask("job running?", report["pid"]))
    return report           # returning ends this process: multiprocessing terminates daemons, joins the others


# ----------------------------------------------------------------------------------
# start_background

def _course(name: str):
    from ..judge import Course

    return Course(f"mpcourse.checks.daemons:{name}")


def _wait_begun(targets: Targets, pid, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not targets.began_in(pid):
        time.sleep(0.02)
    return targets.began_in(pid)


def _returns(done, targets: Targets) -> bool:
    """Wait until ``done()``; False once a job has run for AFTER_BEGIN s without it (or none began in JOB_LIMIT s)."""
    cap = time.perf_counter() + JOB_LIMIT
    while not done():
        now = time.perf_counter()
        began = [b["t"] for b in targets.begun]
        if began and now - min(began) > AFTER_BEGIN or now > cap:
            return False
        time.sleep(0.03)
    return True


def _not_returned(call_text: str, judge, targets: Targets) -> str:
    began = [b["t"] for b in targets.begun]
    when = (f"{time.perf_counter() - min(began):.0f} s after its job began" if began
            else f"after {JOB_LIMIT:g} s")
    return (f"{call_text} had not returned {when}: {where_stuck(judge)}; a background job may never end, so do "
            "not join() it: return the process right after start().")


@check(timeout=75, label="start_background")
def check_start_background_returns_a_running_daemon(judge, start_background) -> Verdict:
    """start_background(sleep_forever, (rec, 'background job')) returns at once a live daemon running the job."""
    targets = Targets(judge)
    call_text = "start_background(sleep_forever, (rec, 'background job'))"
    call = judge.call(_course("drive_start_background"), start_background, _course("sleep_forever"),
                      (targets.recorder, "background job"), name="start_background")
    _returns(call.finished.is_set, targets)
    call.wait(0)
    caller_span(judge, call, "in start_background")
    if call.status == "hung":
        return failed("start_background/joins-daemon", _not_returned(call_text, judge, targets), targets.events(),
                      [(call.started, time.perf_counter())], title="start_background waits for a job that never ends")
    stage_lost(call)
    if call.status != "returned":
        if call.error_type == "AssertionError":
            return failed("start_background/daemon-after-start", f"{call_text} raised {call.error()}: `daemon` "
                          "cannot change after start() (the process already runs, as a non-daemon); pass "
                          "daemon=True to Process(...) (or set p.daemon = True before p.start()).")
        return failed("start_background/raised", f"{call_text} raised {call.error() or 'an error'}.")
    info = call.value if isinstance(call.value, dict) else {}
    if not info.get("is_process"):
        return failed("start_background/not-a-process", f"{call_text} returned a {info.get('type', '?')}; return "
                      "the multiprocessing.Process object you started.")
    if targets.in_caller:
        return failed("start_background/run-not-start", RUN_NOT_START.format(call=call_text, pid=targets.stage_pid),
                      targets.events(), title="the job ran in the caller's own process")
    pid = info.get("pid")
    if pid is None:
        return failed("start_background/not-started", f"{call_text} returned a process that was never started: "
                      "call p.start() before returning it.")
    if not _wait_begun(targets, pid, JOB_LIMIT):
        return failed("start_background/no-job", f"the process that {call_text} returned (pid {pid}) did not run "
                      f"target(*args) within {JOB_LIMIT:g} s: create it with Process(target=target, args=args, "
                      "daemon=True).", targets.events())
    job = next(b for b in targets.begun if b["pid"] == pid)
    if job["label"] != "background job":
        return failed("start_background/args-lost", f"{call_text} did not pass args to the target: it ran with "
                      f"{job['label']!r} instead of 'background job'; use Process(target=target, args=args, "
                      "daemon=True).")
    if not info.get("daemon") or not job["daemon"]:
        return failed("start_background/not-daemon", f"the process that {call_text} started is not a daemon, so it "
                      "would keep the program from exiting: pass daemon=True to Process(...) (or set "
                      "p.daemon = True before p.start()).", targets.events(), title="start_background: not a daemon")
    if not any(p["pid"] == pid for p in targets.others()):
        return failed("start_background/not-alive", f"the process that {call_text} returned was not alive right "
                      "after the call, but the job never ends on its own: start it and return it, without "
                      "stopping it.", targets.events())
    return passed(f"it returned in {call.elapsed * 1000:.0f} ms a live daemon process (pid {pid}) running the job")


@check(timeout=120, label="start_background")
def check_start_background_dies_with_its_parent(judge, start_background) -> Verdict:
    """A process calls start_background(job) with no args and exits: the OS must show the job gone with it."""
    targets = Targets(judge)
    call = judge.call(_course("start_background_then_exit"), start_background, targets.recorder, mode="process",
                      name=CALLER)
    with judge.cv:                 # the caller process starts (slowly on a loaded machine), then calls
        judge.cv.wait_for(lambda: len(targets.callers) > 1 or call.finished.is_set(), JOB_LIMIT)
    _returns(lambda: targets.job_asked or call.finished.is_set(), targets)
    call.wait(JOB_LIMIT + 5 if targets.job_asked else 0)
    if call.status == "hung":
        return failed("start_background/joins-daemon", _not_returned("start_background(job)", judge, targets),
                      targets.events(), title="start_background never returned")
    if targets.in_caller:
        return failed("start_background/run-not-start", "start_background(job) ran the job in the calling process: "
                      "call p.start(), not p.run().", targets.events())
    if call.status == "raised":
        if call.error_type == "AssertionError":
            return failed("start_background/daemon-after-start", f"start_background(job) raised {call.error()}: "
                          "`daemon` cannot change after start(); pass daemon=True to Process(...).")
        return failed("start_background/raised", f"start_background(job), called with no args, raised "
                      f"{call.error()}.")
    if call.status != "returned" or not isinstance(call.value, dict):
        return failed("start_background/raised", "the process that called start_background(job) ended before "
                      f"start_background returned (exit code {call.exitcode}).", targets.events())
    info = call.value
    if info.get("pid") is None or not info.get("job_began"):
        return failed("start_background/no-job", "start_background(job), called with no args, did not run job() in "
                      "a started process (the default args=() must work).", targets.events())
    pid = info["pid"]
    if not _exits(call, targets, pid):
        left = time.perf_counter()
        return failed("start_background/not-daemon", "the process that called start_background(job) could not exit, "
                      "because at exit multiprocessing waits for every child that is not a daemon, and the job "
                      "never ends: make the background process a daemon (daemon=True, before start()).",
                      targets.events(), [(left - 5, left)],
                      title="the caller cannot exit: its background job is not a daemon")
    deadline = time.monotonic() + 3
    while any(p["pid"] == pid for p in targets.others()) and time.monotonic() < deadline:
        time.sleep(0.05)
    if any(p["pid"] == pid for p in targets.others()):
        return failed("start_background/outlives-parent", "the background process was still running 3 s after the "
                      "process that started it had exited: make it a daemon (daemon=True, before start()) so that "
                      "it ends with its parent.", targets.events())
    if not info.get("daemon"):
        return failed("start_background/not-daemon", "the process that start_background(job) returned says p.daemon "
                      "is False: pass daemon=True to Process(...) before start().")
    return passed("a process called start_background(job) with no args and exited; the job ended with it")


def _exits(call, targets: Targets, job: int) -> bool:
    """Does the caller process exit? No, once it and its job sit blocked (all threads asleep, Linux) for 5 s
    and the job never got SIGTERM (multiprocessing terminates daemons at exit); elsewhere after 10 s."""
    deadline = time.monotonic() + JOB_LIMIT
    job_host = next((b["peer"].host_pid for b in targets.begun if b["pid"] == job), None)
    blocked_since = None
    while not call.exited.is_set() and time.monotonic() < deadline:
        now = time.monotonic()
        if job in targets.dying or runnable(call.host_pid) or runnable(job_host):
            blocked_since = None
        else:
            blocked_since = blocked_since or now
            if now - blocked_since > (5.0 if _PROC else 10.0):
                return False
        call.exited.wait(0.1)
    return call.exited.is_set()


_PROC = os.path.isdir("/proc/self/task")


# ----------------------------------------------------------------------------------
# run_with_deadline

#: timeouts tried in turn while a run proves nothing (the child was stopped before its handler was in place)
TIMEOUTS = (0.5, 2.0, 5.0, 10.0)


class _Run:
    """One run_with_deadline call: a verdict (None: nothing wrong), or inconclusive (run it again)."""

    def __init__(self, call, targets: Targets):
        self.call, self.targets = call, targets
        self.verdict: Verdict | None = None
        self.inconclusive = False


def _judge_deadline_call(judge, run_with_deadline, targets: Targets, target, args: tuple, call_text: str,
                         timeout: float, advice: dict[str, str], last_try: bool = True,
                         signal_case: bool = False) -> _Run:
    """Call ``run_with_deadline(target, args, timeout)``; the verdicts every case shares."""
    call = judge.call(_course("call_timing_stops"), run_with_deadline, target, args, timeout, targets.recorder,
                      name="run_with_deadline")

    def hang_deadline() -> float:
        """Hung: well after the child got SIGTERM, or well after its timeout counted from when it began."""
        began = [b["t"] for b in targets.begun]
        stopped = [t for t in (_stop_time(judge, b["pid"]) for b in targets.begun) if t is not None]
        if stopped:
            return min(stopped) + targets.hold_dying + 8
        return (min(began) + timeout if began else call.started + JOB_LIMIT) + 8

    targets.watch(call, hang_deadline)
    call.wait(0)
    alive = targets.others() if call.ok else []
    caller_span(judge, call, "in run_with_deadline")
    run = _Run(call, targets)
    events = targets.events
    if call.status == "hung":
        run.verdict = failed("run_with_deadline/hangs", f"{call_text} had not returned after {call.elapsed:.0f} s: "
                             f"{where_stuck(judge)}; {advice['hang']}", events(),
                             [(call.started + timeout, time.perf_counter())], title="run_with_deadline never returned")
        return run
    stage_lost(call)
    if targets.in_caller:
        run.verdict = failed("run_with_deadline/run-not-start", RUN_NOT_START.format(
            call=call_text, pid=targets.stage_pid), events(), title="the target ran in the caller's own process")
        return run
    if call.status != "returned":
        run.verdict = failed("run_with_deadline/raised", f"{call_text} raised {call.error() or 'an error'}.")
        return run
    began = list(targets.begun)
    ready = {e.pid for e in judge.events() if e.kind == "state" and e.detail == "ready"}
    conclusive = bool(began) and (not (signal_case and SIGNALS) or any(
        b["pid"] in targets.dying or b["pid"] in ready for b in began))
    if not conclusive and not last_try:
        run.inconclusive = True
        targets.settle(DYING + 0.5)
        return run
    if not began:
        run.verdict = failed("run_with_deadline/no-child", f"{call_text} never ran the target in a child process: "
                             "start a Process(target=target, args=args) and join it.", events())
        return run
    if len(began) > 1:
        run.verdict = failed("run_with_deadline/process-count", f"{call_text} ran the target in {len(began)} "
                             "processes: start exactly one child.", events())
        return run
    if began[0]["daemon"]:
        run.verdict = failed("run_with_deadline/daemon-child", f"{call_text} ran the target in a daemon process: use "
                             "an ordinary (non-daemon) child, which may start processes of its own.")
        return run
    value = call.value
    child = began[0]["pid"]
    still = child in targets.outlived or any(p["pid"] == child for p in alive)
    if value is None:
        if still and not targets.stops and not _wait_stop_time(judge, child, 3.0):
            run.verdict = failed("run_with_deadline/no-terminate", f"{call_text} returned None and left the child "
                                 "running: after join(timeout), terminate() a child that is still alive, join() it, "
                                 "and return its exit code.", events(), title="the child outlived run_with_deadline")
        else:
            targets.settle(DYING + 0.5)
            run.verdict = failed(advice["none_id"], f"{call_text} returned None: {advice['none']}", events(),
                                 [(call.ended, time.perf_counter())] if call.ended else [],
                                 title="run_with_deadline returned before the child ended")
        return run
    if not isinstance(value, int) or isinstance(value, bool):
        run.verdict = failed("run_with_deadline/not-an-int", f"{call_text} returned {value!r}; return the child's "
                             "exit code (an int, p.exitcode).")
        return run
    if still or [p for p in alive if p["pid"] != child]:
        targets.settle(DYING + 0.5)
        run.verdict = failed("run_with_deadline/child-left-running", f"{call_text} returned {value!r} while its "
                             "child was still running: wait for it with join() (and kill() it if terminate() is not "
                             "enough) before you return, and return its real p.exitcode.", events(),
                             [(call.ended, time.perf_counter())] if call.ended else [],
                             title="the child outlived run_with_deadline")
    return run


def _wait_stop_time(judge, pid: int, seconds: float) -> float | None:
    """SIGTERM sent with os.kill() (not timed by the hooks) may still be on its way to the judge."""
    deadline = time.monotonic() + seconds
    while (stopped := _stop_time(judge, pid)) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return stopped


def _stop_time(judge, pid: int) -> float | None:
    """When the child got SIGTERM, as the judge heard it (None: never, or no signals here)."""
    return next((e.t for e in judge.events() if e.pid == pid and e.kind == "mark" and e.what.startswith("SIGTERM")),
                None)


def _stopped_in_time(judge, run: _Run, call_text: str, timeout: float, grace: float) -> Verdict | None:
    """A child that runs past the timeout: stopped by a signal, not before the timeout, not long after."""
    call = run.call
    if call.value >= 0:
        return failed("run_with_deadline/wrong-code", f"{call_text} returned {call.value!r}, but a target that runs "
                      "past the timeout must be stopped with a signal (a negative exit code): terminate() it after "
                      "join(timeout), join() it, and return p.exitcode.")
    child = run.targets.begun[0]
    signalled = _stop_time(judge, child["pid"])
    stopped = signalled or call.ended or time.perf_counter()
    waited = min((w for _what, w in run.targets.stops), default=stopped - call.started)  # else: an upper bound
    if waited < timeout * 0.9:
        return failed("run_with_deadline/stopped-early", f"{call_text} stopped the target {waited:.2f} s after "
                      f"it started, before the {timeout:g} s it was allowed: wait with join(timeout) first.",
                      run.targets.events())
    ready = any(e.pid == child["pid"] and e.kind == "state" and e.detail == "ready" for e in judge.events())
    terminated = any(what == "terminate" for what, _waited in run.targets.stops)      # timed in the caller
    if SIGNALS and ready and not terminated and signalled is None \
            and _wait_stop_time(judge, child["pid"], 1.0) is None:
        return failed("run_with_deadline/no-terminate", f"{call_text} ended the child (exit code {call.value}) "
                      "without ever sending it SIGTERM: terminate() it first, so that it can end by itself, and "
                      "kill() it only if it is still alive after a short join().", run.targets.events(),
                      title="run_with_deadline never sent SIGTERM")
    late = call.ended - (signalled or child["t"] + timeout)
    if late > grace + 5:
        return failed("run_with_deadline/too-slow", f"{call_text} returned {late:.1f} s after the deadline: "
                      "join(timeout), then terminate() the child, give it a short join(), kill() it if it is still "
                      "alive, and join() it.", run.targets.events())
    return None


def _late_target(judge, run_with_deadline, target: str, advice: dict[str, str], hold: float,
                 signal_case: bool) -> tuple[Verdict | None, float]:
    """Run a target that never ends on its own with growing timeouts until a run proves something."""
    for attempt, timeout in enumerate(TIMEOUTS):
        targets = Targets(judge)
        targets.hold_dying = hold
        call_text = f"run_with_deadline({target}, (rec,), {timeout:g})"
        run = _judge_deadline_call(judge, run_with_deadline, targets, _course(target), (targets.recorder,),
                                   call_text, timeout, advice, attempt == len(TIMEOUTS) - 1, signal_case)
        if run.inconclusive:
            continue
        return run.verdict or _stopped_in_time(judge, run, call_text, timeout, hold), timeout
    return None, TIMEOUTS[-1]


@check(timeout=90, label="run_with_deadline")
def check_run_with_deadline_stops_a_late_target(judge, run_with_deadline) -> Verdict:
    """A target that runs past the timeout and dies slowly after SIGTERM: stopped after timeout, joined, an int back."""
    slow = {"hang": "after terminate(), join() the child (it ends a moment later).",
            "none": f"terminate() only sends SIGTERM, and this child takes {DYING:g} s to die, so its exitcode is "
                    "None until it has ended: join() it after terminate() (and if a short join(timeout) is not "
                    "enough, kill() it and join() it), then return p.exitcode.",
            "none_id": "run_with_deadline/exitcode-none"}
    verdict, timeout = _late_target(judge, run_with_deadline, "die_slowly_on_sigterm", slow, DYING, True)
    if verdict is not None:
        return verdict
    return passed(f"a child that ran past the timeout ({timeout:g} s) and took {DYING:g} s to die after SIGTERM was "
                  "stopped, waited for, and its negative exit code returned")


@check(timeout=90, label="run_with_deadline")
def check_run_with_deadline_kills_a_target_that_ignores_sigterm(judge, run_with_deadline) -> Verdict:
    """A target that ignores SIGTERM must be killed: the result is negative, soon after the timeout."""
    advice = {"hang": "this target ignores SIGTERM, so after terminate() wait with join(timeout) and then kill() it.",
              "none": "this target ignores SIGTERM, so it is still alive after terminate(): kill() it, then join() "
                      "it.",
              "none_id": "run_with_deadline/no-kill"}
    verdict, timeout = _late_target(judge, run_with_deadline, "ignore_sigterm_forever", advice, 0.0, True)
    if verdict is not None:
        if verdict.mistake == "run_with_deadline/child-left-running":
            verdict.mistake = "run_with_deadline/no-kill"
        return verdict
    return passed(f"a child that ignores SIGTERM was killed after the timeout ({timeout:g} s): a negative exit code")


#: timeouts tried in turn for a target that ends by itself while its child was too slow to end well inside one
CODE_TIMEOUTS = (3.0, 10.0, 25.0)
#: s from a target's end to the return that show a wait other than join(timeout) (the same for every timeout)
TOO_SLOW_AFTER_END = TOO_SLOW * CODE_TIMEOUTS[0]


def _ending_target(judge, targets: Targets, code: int | None, timeout: float):
    """(target, args, call text, the code it ends with, how) for a target that ends after 0.05 s of work."""
    if code is None:
        target = judge.make("mpcourse.checks.daemons:NeverEnding", targets.recorder, 0.05)
        return target, (), f"run_with_deadline(job, (), {timeout:g})", 0, "a normal return (it takes no args)"
    how = "sys.exit(3)" if code else "a normal return"
    return (_course("work_then_exit"), (targets.recorder, 0.05, code),
            f"run_with_deadline(work_then_exit, (rec, 0.05, {code}), {timeout:g})", code, how)


def _slow_child(judge, run: _Run, call: float, timeout: float) -> bool:
    """Did the child end its 0.05 s of work only late in its timeout, or never (a loaded machine, spawn)?

    Then a correct answer terminates it and returns a negative code: the run proves nothing.
    A wrong answer that stops a child which ended long before is still caught.
    """
    ended = _work_ended(judge, run.targets.begun[0]["pid"])
    return ended is None or ended - call > timeout / 2


def _work_ended(judge, pid: int) -> float | None:
    """When the target in ``pid`` said it had done its work and was exiting (None: it never did)."""
    return next((e.t for e in judge.events() if e.kind == "state" and e.what == "exited" and e.pid == pid), None)


@check(timeout=120, label="run_with_deadline")
def check_run_with_deadline_returns_the_exit_code(judge, run_with_deadline) -> Verdict:
    """Targets that end in time give 3 (sys.exit(3)), 0, 0 (no args) at once; one that runs forever a negative code."""
    advice = {"hang": "join(timeout) returns as soon as the child ends, so wait with join(timeout).",
              "none": "the target ended in time, so join() it and return p.exitcode.",
              "none_id": "run_with_deadline/exitcode-none"}
    runs = []
    for wanted in (3, 0, None):
        level, repeats = 0, 0
        while True:
            timeout, last_try = CODE_TIMEOUTS[level], level == len(CODE_TIMEOUTS) - 1
            targets = Targets(judge)
            target, args, call_text, code, how = _ending_target(judge, targets, wanted, timeout)
            started = time.perf_counter()
            run = _judge_deadline_call(judge, run_with_deadline, targets, target, args, call_text, timeout, advice,
                                       last_try)
            if run.inconclusive:                                   # stopped before it began
                level += 1
                continue
            if run.verdict is not None:
                return run.verdict
            ended = _work_ended(judge, targets.begun[0]["pid"]) or targets.begun[0]["t"]
            if run.call.value != code and not last_try and _slow_child(judge, run, started, timeout):
                level += 1
                continue
            if run.call.value == code and run.call.ended - ended > TOO_SLOW_AFTER_END and repeats < 2:
                repeats += 1                    # a starved caller or a slow exit? a dawdler is slow every time
                continue
            break
        runs.append((run, targets, code, how, call_text, ended))
    for run, targets, code, how, call_text, _ended in runs:    # the codes first (a slow child ran again)
        if run.call.value != code:
            return failed("run_with_deadline/wrong-code", f"{call_text} returned {run.call.value!r}, but the target "
                          f"ended by itself with {how} after 0.05 s: return the real exit code ({code}); terminate "
                          "only a child that is still alive after join(timeout).", targets.events())
    for run, targets, _code, _how, call_text, ended in runs:
        if run.call.ended - ended > TOO_SLOW_AFTER_END:      # far from both a prompt join and a full sleep(timeout)
            return failed("run_with_deadline/too-slow", f"{call_text} returned {run.call.ended - ended:.1f} s after "
                          "the target had ended by itself: wait with join(timeout), which returns as soon as the "
                          "child ends.", targets.events())
    forever = {"hang": "wait with join(timeout), then terminate() the child if it is still alive, and join() it.",
               "none": "after terminate(), join() the child so that its exit code is set.",
               "none_id": "run_with_deadline/exitcode-none"}
    verdict, late = _late_target(judge, run_with_deadline, "sleep_forever", forever, 0.0, False)
    if verdict is not None:
        return verdict
    return passed(f"targets that ended in time gave back 3 (sys.exit(3)) and 0, with or without args, at once; one "
                  f"that ran forever was stopped after {late:g} s with a negative exit code")
