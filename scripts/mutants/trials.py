"""Run an exercise's stress oracle N times on one answer, each trial bounded and cleaned up.

The caller (``run_trials``) starts a fresh interpreter in a new session (``python -m
mutants.trials``) and kills that whole session when its overall deadline passes. The
worker loads the answer cells as a module, then forks one child per trial in a process
group of its own, waits for its report under the oracle's deadline, and kills the group
(and every orphan, reaped through ``PR_SET_CHILD_SUBREAPER``) before the next trial. So a
deadlocked, looping or process-leaking answer costs one trial's deadline and leaves
nothing behind. The worker never imports ``mpcourse``: the oracle is independent of the grader.
"""
from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import tempfile
import time
import types
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass
class TrialReport:
    runs: int = 0                                         # trials that ran
    violations: list[dict] = field(default_factory=list)  # {"trial", "clause", "detail"}
    error: str = ""                                       # the worker itself failed (an oracle bug)

    @property
    def wrong(self) -> bool:
        return bool(self.violations)

    def summary(self) -> str:
        """The clauses seen violated, with how often ("hangs 3/20; lost update 2/20")."""
        counts: dict[str, int] = {}
        for v in self.violations:
            counts[v["clause"]] = counts.get(v["clause"], 0) + 1
        return "; ".join(f"{clause} {k}/{self.runs}" for clause, k in sorted(counts.items(), key=lambda c: -c[1]))


def run_trials(assignment: str, exercise: str, source: str, n: int, seed: int = 0, stop_early: bool = True,
               stderr=subprocess.DEVNULL) -> TrialReport:
    """Run ``exercise``'s oracle ``n`` times on ``source`` (every answer cell of the assignment, joined)."""
    from .oracles import oracle_for

    spec = oracle_for(assignment, exercise)
    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        out = Path(tmp) / "report.json"
        request = {"assignment": assignment, "exercise": exercise, "source": source, "n": n, "seed": seed,
                   "stop_early": stop_early, "out": str(out)}
        env = dict(os.environ, PYTHONPATH=str(HERE.parent), PYTHONDONTWRITEBYTECODE="1")
        proc = subprocess.Popen([sys.executable, "-m", "mutants.trials"], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=stderr, env=env, cwd=tmp, start_new_session=True)
        try:
            proc.communicate(json.dumps(request).encode(), timeout=n * (spec.timeout + 3) + 30)
        except subprocess.TimeoutExpired:
            pass
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        if not out.exists():
            return TrialReport(error=f"the trial worker ended without a report (exit code {proc.returncode})")
        data = json.loads(out.read_text())
    return TrialReport(data["runs"], data["violations"], data.get("error", ""))


# ------------------------------------------------------------------ the worker side

def _load(source: str) -> types.ModuleType:
    """The answer cells as a module ``student`` (importable, so pickling by reference works in children)."""
    module = types.ModuleType("student")
    module.__file__ = "<student>"
    sys.modules["student"] = module
    exec(compile(source, "<student>", "exec"), module.__dict__)         # noqa: S102
    return module


def _become_subreaper() -> None:
    """Orphans of a trial become our children, so we can kill and reap them (Linux; elsewhere a no-op)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)          # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _kill_everything_else() -> None:
    """SIGKILL every descendant of this worker (the trial's group and any orphan that escaped it), then reap."""
    import psutil

    me = psutil.Process()
    for _ in range(20):
        children = me.children(recursive=True)
        if not children:
            break
        for child in children:
            try:
                child.kill()
            except psutil.Error:
                pass
        time.sleep(0.01)
        _reap()
    _reap()


def _reap() -> None:
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _trial(spec, module, rng: random.Random, write_fd: int) -> None:
    """In the trial's child: run the oracle once and write one JSON line; never returns."""
    from .oracles import Violation, leftover_processes

    try:
        os.setpgid(0, 0)
        result = {"ok": True}
        try:
            spec.run(module, rng)
            if spec.leftovers:
                left = leftover_processes()
                if left:
                    raise Violation("leaves a process running", f"{len(left)} process(es) still running after "
                                    f"return: {', '.join(left[:3])}")
        except Violation as v:
            result = {"ok": False, "clause": v.clause, "detail": v.detail}
        except BaseException as exc:  # noqa: BLE001 (the answer raised where the contract says it returns)
            result = {"ok": False, "clause": "raises", "detail": f"{type(exc).__name__}: {exc}"[:300]}
        os.write(write_fd, (json.dumps(result) + "\n").encode())
    finally:
        os._exit(0)


def _one(spec, module, rng: random.Random) -> dict:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _trial(spec, module, rng, write_fd)
    os.close(write_fd)
    deadline = time.monotonic() + spec.timeout
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([read_fd], [], [], left)[0]:
            break
        chunk = os.read(read_fd, 65536)
        if not chunk:
            break
        data += chunk
    os.close(read_fd)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    _kill_everything_else()
    if b"\n" in data:
        return json.loads(data.split(b"\n")[0])
    if time.monotonic() >= deadline:
        return {"ok": False, "clause": "hangs", "detail": f"no result within {spec.timeout:g} s"}
    return {"ok": False, "clause": "crashes", "detail": "the trial died without a result"}


def main() -> None:
    request = json.loads(sys.stdin.read())
    out = Path(request["out"])
    report = {"runs": 0, "violations": []}
    try:
        import multiprocessing

        from .oracles import oracle_for

        multiprocessing.set_start_method("fork", force=True)
        _become_subreaper()
        spec = oracle_for(request["assignment"], request["exercise"])
        try:
            module = _load(request["source"])
        except BaseException as exc:  # noqa: BLE001 (an answer that fails to load is wrong every time)
            module = None
            report["violations"].append({"trial": 0, "clause": "does not load",
                                         "detail": f"{type(exc).__name__}: {exc}"[:300]})
            report["runs"] = 1
        for i in range(request["n"] if module else 0):
            rng = random.Random(f"{request['seed']}:{request['exercise']}:{i}")
            result = _one(spec, module, rng)
            report["runs"] += 1
            if not result["ok"]:
                report["violations"].append({"trial": i, "clause": result["clause"], "detail": result["detail"]})
                if request["stop_early"]:
                    break
            out.write_text(json.dumps(report))
    except BaseException as exc:  # noqa: BLE001
        import traceback

        report["error"] = traceback.format_exc()[-2000:] or repr(exc)
    out.write_text(json.dumps(report))


if __name__ == "__main__":
    main()
