"""Checks for assignment 02_daemons: start_background, run_with_deadline.

The targets are module-level functions of this module that record on a ``Timeline``
where they run (pid, daemon flag), when a SIGTERM arrives, and when they end. Some are
built to expose a mistake every time: one never ends (so joining it hangs), one takes
half a second to die after SIGTERM (so reading ``exitcode`` right after ``terminate()``
gives None), one ignores SIGTERM altogether (so only ``kill()`` ends it).

A target records ``ready`` once its signal handler is in place. When SIGTERM came
before that (a slow start on a loaded machine), the run proved nothing, so the check
runs again with a longer timeout instead of letting a wrong answer pass by luck.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import time

from ..timeline import Timeline
from . import Verdict, check, passed
from .processes import (
    CALLER, RUN_NOT_START, STARTED, call, child_pids, describe_exception, enter_judge, failed, in_caller, is_running,
    exits_after, ran_in_caller, reap, settle, sleep_in_steps, work_then_exit,
)

START_PATIENCE = 3.0        # start_background must return within this (it should take milliseconds)


# ----------------------------------------------------------------------------------
# targets

def _begin(tl: Timeline, detail: str) -> bool:
    if in_caller():
        tl.mark("target ran here", detail)
        return False
    tl.state("running", f"{STARTED}daemon={multiprocessing.current_process().daemon}|{detail}")
    return True


def _on_sigterm(handler) -> bool:
    if os.name != "posix":
        return False
    signal.signal(signal.SIGTERM, handler)
    return True


def _die_of_sigterm() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
    sleep_in_steps(5)


def sleep_forever(tl: Timeline, label: str = "") -> None:
    """A background job that never ends on its own (SIGTERM ends it at once)."""
    if not _begin(tl, label):
        return

    def on_sigterm(signum, frame):
        tl.state("exited", "SIGTERM")
        _die_of_sigterm()

    _on_sigterm(on_sigterm)
    tl.state("running", "ready")
    while True:
        time.sleep(0.05)


class NeverEnding:
    """A target called with no arguments (``start_background(job)``) that runs forever."""

    def __init__(self, tl: Timeline):
        self.tl = tl

    def __call__(self) -> None:
        sleep_forever(self.tl, "called with no arguments")


def die_slowly_on_sigterm(tl: Timeline, delay: float) -> None:
    """Runs forever; after SIGTERM it takes ``delay`` seconds to clean up, then dies of SIGTERM."""
    if not _begin(tl, "runs past the deadline"):
        return

    def on_sigterm(signum, frame):
        tl.mark("SIGTERM")
        tl.state("dying after SIGTERM")
        time.sleep(delay)
        tl.state("exited", "SIGTERM")
        _die_of_sigterm()

    _on_sigterm(on_sigterm)
    tl.state("running", "ready")
    while True:
        time.sleep(0.05)


def ignore_sigterm_forever(tl: Timeline) -> None:
    """Runs forever and ignores SIGTERM: only kill() (SIGKILL, which cannot be caught) ends it."""
    if not _begin(tl, "ignores SIGTERM"):
        return

    def on_sigterm(signum, frame):
        tl.mark("SIGTERM ignored")

    _on_sigterm(on_sigterm)
    tl.state("running", "ready")
    while True:
        time.sleep(0.05)


def start_background_then_exit(start_background, tl: Timeline, conn) -> None:
    """A caller process: start a never-ending job with start_background(job), report it, and exit normally."""
    enter_judge()
    tl.state("running", "calls start_background(job)")
    try:
        p = start_background(NeverEnding(tl))
        conn.send(("returned",))
    except NotImplementedError:
        conn.send(("not implemented",))
        return
    except Exception as exc:  # noqa: BLE001 (reported to the check, never printed)
        conn.send(("error", f"raised {describe_exception(exc)}"))
        return
    try:
        pid, daemon = p.pid, bool(p.daemon)
    except Exception as exc:  # noqa: BLE001
        conn.send(("error", f"returned {p!r}, not a started process ({describe_exception(exc)})"))
        return
    if ran_in_caller(tl):
        conn.send(("error", "ran the job in the calling process: call p.start(), not p.run()"))
        return
    _wait_for(lambda: pid in _started_marks(tl), 4)     # the job really runs before this process exits
    conn.send(("ok", pid, daemon))
    tl.state("blocked", "exiting: daemons are terminated, other children joined")


# ----------------------------------------------------------------------------------
# helpers

def _started_marks(tl: Timeline) -> dict[int, bool]:
    """{pid: daemon flag} of every target that ran in a child process."""
    return {e.pid: e.detail.startswith(f"{STARTED}daemon=True") for e in tl.events()
            if e.kind == "state" and e.detail.startswith(STARTED)}


def _wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def _was_ready(tl: Timeline) -> bool:
    return any(e.kind == "state" and e.detail == "ready" for e in tl.events())


def _exit_spans(tl: Timeline, after: float) -> list[tuple[float, float]]:
    """[(after, when the child ended, or now if it still runs)] when the child outlived ``after``."""
    return exits_after(tl, after)


# ----------------------------------------------------------------------------------
# start_background

@check(timeout=15, label="start_background")
def check_start_background_returns_a_running_daemon(start_background) -> Verdict:
    """start_background(sleep_forever, (tl, 'background job')) returns at once a live daemon running the job."""
    enter_judge()
    tl = Timeline()
    call_text = "start_background(sleep_forever, (tl, 'background job'))"
    try:
        out = call(start_background, (sleep_forever, (tl, "background job")), START_PATIENCE, tl,
                   "in start_background")
        if not out.done:
            return failed(f"{call_text} had not returned after {START_PATIENCE:g} s: it {out.where}; a background "
                          "job may never end, so do not join() it: return the process right after start().",
                          tl, [(out.started, out.ended)], title="start_background waits for a job that never ends")
        if ran_in_caller(tl):
            return failed(RUN_NOT_START.format(call=call_text, pid=os.getpid()), tl,
                          title="the job ran in the caller's own process")
        if out.error is not None:
            _wait_for(lambda: _started_marks(tl), 3)
            flags = _started_marks(tl)
            if isinstance(out.error, AssertionError) and flags and not any(flags.values()):
                return failed(f"{call_text} raised {describe_exception(out.error)}, and its child is not a daemon: "
                              "`daemon` cannot change after start(); pass daemon=True to Process(...) (or set "
                              "p.daemon = True before p.start()).")
            return failed(f"{call_text} raised {describe_exception(out.error)}.")
        p = out.value
        if not isinstance(p, multiprocessing.process.BaseProcess):
            return failed(f"{call_text} returned {p!r}; return the Process object you started.")
        if p.pid is None:
            return failed(f"{call_text} returned a process that was never started: call p.start() before "
                          "returning it.")
        if not p.is_alive() or p.pid not in out.running_at_return:
            return failed(f"the process that {call_text} returned was not alive right after the call, but the "
                          "job never ends on its own: start it and return it, without stopping it.", tl)
        if not _wait_for(lambda: p.pid in _started_marks(tl), 5):
            return failed(f"the process that {call_text} returned did not run target(*args) within 5 s: "
                          "create it with Process(target=target, args=args, daemon=True).")
        labels = [e.detail.split("|", 1)[-1] for e in tl.events()
                  if e.kind == "state" and e.detail.startswith(STARTED) and e.pid == p.pid]
        if labels[:1] != ["background job"]:
            return failed(f"{call_text} did not pass args to the target: it ran with {labels[:1]!r} instead of "
                          "'background job'; use Process(target=target, args=args, daemon=True).")
        if not p.daemon or not _started_marks(tl)[p.pid]:
            return failed(f"the process that {call_text} started is not a daemon, so it would keep the program "
                          "from exiting: pass daemon=True to Process(...) (or set p.daemon = True before "
                          "p.start()).", tl, title="start_background: not a daemon")
        return passed()
    finally:
        reap(tl)
        tl.remove()


@check(timeout=15, label="start_background")
def check_start_background_dies_with_its_parent(start_background) -> Verdict:
    """A process calls start_background(job) with no args and exits: the job must end with it."""
    enter_judge()
    tl = Timeline()
    ctx = multiprocessing.get_context()
    receiver, sender = ctx.Pipe(duplex=False)
    caller = ctx.Process(target=start_background_then_exit, args=(start_background, tl, sender), name=CALLER)
    try:
        caller.start()
        sender.close()
        if not receiver.poll(START_PATIENCE + 1):
            return failed(f"start_background(job) had not returned after {START_PATIENCE + 1:g} s: return the "
                          "process right after start(), without join().", tl,
                          title="start_background never returned")
        try:
            reply = receiver.recv()
            if reply[0] == "returned":
                reply = receiver.recv() if receiver.poll(8) else ("error", "never reported its process")
        except EOFError:
            caller.join(1)
            return failed(f"the process that called start_background(job) ended (exit code {caller.exitcode}) "
                          "before start_background returned.")
        if reply[0] == "not implemented":
            raise NotImplementedError()
        if reply[0] == "error":
            return failed(f"start_background(job), called with no args, {reply[1]}.")
        _, pid, daemon = reply
        if not _wait_for(lambda: pid in _started_marks(tl), 5):
            return failed("start_background(job), called with no args, did not run job() in the process it "
                          "returned within 5 s.", tl)
        caller.join(3)
        if caller.is_alive():
            left = time.perf_counter()
            return failed("the process that called start_background(job) could not exit, because at exit "
                          "multiprocessing waits for every child that is not a daemon and the job never ends: "
                          "make the background process a daemon (daemon=True, before start()).", tl,
                          [(left - 3, left)], title="the caller cannot exit: its background job is not a daemon")
        if not _wait_for(lambda: not is_running(pid), 3):
            return failed("the background process was still running 3 s after the process that started it had "
                          "exited: make it a daemon (daemon=True, before start()) so that it ends with its "
                          "parent.", tl)
        if not daemon:
            return failed("the process that start_background(job) returned says p.daemon is False: pass "
                          "daemon=True to Process(...) before start().")
        return passed()
    finally:
        receiver.close()
        reap(tl)                  # the caller and its job (a forked job holds the caller's sentinel open)
        caller.join(1)
        tl.remove()


# ----------------------------------------------------------------------------------
# run_with_deadline

#: timeouts tried in turn while a run proves nothing (the child was stopped before its target began)
TIMEOUTS = (0.5, 2.0, 5.0, 10.0)
#: the run proved nothing: try again with a longer timeout
INCONCLUSIVE = Verdict(False, "inconclusive")


def _judge_deadline_call(run_with_deadline, target, args: tuple, timeout: float, tl: Timeline, call_text: str,
                         patience: float, hang_advice: str, none_advice: str,
                         last_try: bool = True) -> tuple[Verdict | None, object]:
    """Checks every run_with_deadline case shares; returns (a failed verdict, INCONCLUSIVE or None, the outcome)."""
    out = call(run_with_deadline, (target, args, timeout), patience, tl, "in run_with_deadline")
    if not out.done:
        return failed(f"{call_text} had not returned after {patience:g} s: it {out.where}; {hang_advice}", tl,
                      [(out.started + timeout, out.ended)], title="run_with_deadline never returned"), out
    if ran_in_caller(tl):
        return failed(RUN_NOT_START.format(call=call_text, pid=os.getpid()) +
                      "", tl, title="the target ran in the caller's own process"), out
    if out.error is not None:
        return failed(f"{call_text} raised {describe_exception(out.error)}."), out
    flags = _started_marks(tl)
    if not flags:
        if not last_try:              # on a loaded machine the child may be stopped before its target began
            return INCONCLUSIVE, out
        return failed(f"{call_text} never ran the target in a child process: start a Process(target=target, "
                      "args=args) and join it."), out
    if any(flags.values()):
        return failed(f"{call_text} ran the target in a daemon process: use an ordinary (non-daemon) child, "
                      "which may start processes of its own."), out
    value = out.value
    if value is None:
        settle(1.5)
        return failed(f"{call_text} returned None: {none_advice}", tl, _exit_spans(tl, out.ended),
                      title="run_with_deadline returned before the child ended"), out
    if not isinstance(value, int) or isinstance(value, bool):
        return failed(f"{call_text} returned {value!r}; return the child's exit code (an int, p.exitcode)."), out
    still = [pid for pid in child_pids(tl) if is_running(pid)]
    if still or out.running_at_return:
        settle(1.5)
        return failed(f"{call_text} returned {value!r} while its child was still running: wait for it with "
                      "join() (and kill() it if terminate() is not enough) before you return.", tl,
                      _exit_spans(tl, out.ended), title="the child outlived run_with_deadline"), out
    return None, out


@check(timeout=20, label="run_with_deadline")
def check_run_with_deadline_returns_the_exit_code(run_with_deadline) -> Verdict:
    """Targets that finish in time: sys.exit(3) gives 3, a normal return gives 0, both well before the timeout."""
    enter_judge()
    timeout = 3.0
    for code in (3, 0):
        tl = Timeline()
        call_text = f"run_with_deadline(work_then_exit, (tl, 0.05, {code}), {timeout:g})"
        try:
            verdict, out = _judge_deadline_call(
                run_with_deadline, work_then_exit, (tl, 0.05, code), timeout, tl, call_text, timeout + 5,
                "join(timeout) returns as soon as the child ends, so wait with join(timeout).",
                "the target ended in time, so join() it and return p.exitcode.")
            if verdict is not None:
                return verdict
            if out.value != code:
                how = "sys.exit(3)" if code else "a normal return"
                return failed(f"{call_text} returned {out.value!r}, but the target ended by itself with {how} "
                              f"after 0.05 s: return the real exit code ({code}); terminate only a child that is "
                              "still alive after join(timeout).")
            if out.elapsed > timeout + 1:
                return failed(f"{call_text} took {out.elapsed:.1f} s although the target ended after 0.05 s: "
                              "wait with join(timeout), which returns as soon as the child ends.")
        finally:
            reap(tl)
            tl.remove()
    return passed()


@check(timeout=60, label="run_with_deadline")
def check_run_with_deadline_stops_a_late_target(run_with_deadline) -> Verdict:
    """A target that runs forever is stopped after timeout; one that dies 0.5 s after SIGTERM still gives an int."""
    enter_judge()
    for attempt, timeout in enumerate(TIMEOUTS):
        tl = Timeline()
        call_text = f"run_with_deadline(sleep_forever, (tl,), {timeout:g})"
        try:
            verdict, out = _judge_deadline_call(
                run_with_deadline, sleep_forever, (tl,), timeout, tl, call_text, timeout + 4,
                "wait with join(timeout), then terminate() the child if it is still alive.",
                "after terminate(), join() the child so that its exit code is set.",
                last_try=attempt == len(TIMEOUTS) - 1)
            if verdict is INCONCLUSIVE:
                continue
            if verdict is not None:
                return verdict
            if out.value >= 0:
                return failed(f"{call_text} returned {out.value!r}, but a target that runs past the timeout must "
                              "be stopped with a signal (a negative exit code): terminate() it after "
                              "join(timeout).")
            if out.elapsed < timeout * 0.9:
                return failed(f"{call_text} stopped the target after {out.elapsed:.2f} s, before the {timeout:g} s "
                              "it was allowed: wait with join(timeout) first.", tl)
            if out.elapsed > timeout + 2.5:
                return failed(f"{call_text} took {out.elapsed:.1f} s, much longer than the timeout: "
                              "join(timeout), then terminate() and join() the child.", tl)
            break
        finally:
            reap(tl)
            tl.remove()
    return _judge_slow_death(run_with_deadline)


def _judge_slow_death(run_with_deadline) -> Verdict:
    delay = 0.5
    for attempt, timeout in enumerate(TIMEOUTS):
        tl = Timeline()
        call_text = f"run_with_deadline(die_slowly_on_sigterm, (tl, {delay:g}), {timeout:g})"
        try:
            verdict, out = _judge_deadline_call(
                run_with_deadline, die_slowly_on_sigterm, (tl, delay), timeout, tl, call_text, timeout + 5,
                "after terminate(), join() the child (it ends 0.5 s later).",
                f"terminate() only sends SIGTERM, and this child needs {delay:g} s to die, so its exitcode is "
                "None until it has ended: join() it after terminate().",
                last_try=attempt == len(TIMEOUTS) - 1)
            if verdict is INCONCLUSIVE:
                continue
            if verdict is not None:
                return verdict
            if out.value >= 0:
                return failed(f"{call_text} returned {out.value!r}, but the target runs until it is stopped with a "
                              "signal: terminate() it after join(timeout), join() it, and return p.exitcode.")
            if _was_ready(tl):
                return passed()
        finally:
            reap(tl)
            tl.remove()
    return passed()     # the machine is too slow to tell; a correct answer must not lose points for it


@check(timeout=60, label="run_with_deadline")
def check_run_with_deadline_kills_a_target_that_ignores_sigterm(run_with_deadline) -> Verdict:
    """A target that ignores SIGTERM must be killed: the result is negative, soon after the timeout."""
    enter_judge()
    for attempt, timeout in enumerate(TIMEOUTS):
        tl = Timeline()
        call_text = f"run_with_deadline(ignore_sigterm_forever, (tl,), {timeout:g})"
        try:
            verdict, out = _judge_deadline_call(
                run_with_deadline, ignore_sigterm_forever, (tl,), timeout, tl, call_text, timeout + 6,
                "this target ignores SIGTERM, so after terminate() wait with join(timeout) and then kill() it.",
                "this target ignores SIGTERM, so it is still alive after terminate(): kill() it, then join() it.",
                last_try=attempt == len(TIMEOUTS) - 1)
            if verdict is INCONCLUSIVE:
                continue
            if verdict is not None:
                return verdict
            if out.value >= 0:
                return failed(f"{call_text} returned {out.value!r}; a target killed by a signal has a negative "
                              "exit code: return p.exitcode after join().")
            if out.elapsed > timeout + 5:
                return failed(f"{call_text} took {out.elapsed:.1f} s, much longer than the timeout: after "
                              "terminate(), give the child a short join(timeout), then kill() it.", tl)
            if _was_ready(tl):
                return passed()
        finally:
            reap(tl)
            tl.remove()
    return passed()     # the machine is too slow to tell; a correct answer must not lose points for it
