"""The nbgrader side: every submission in a sandbox of its own, every verdict decided outside it.

``nbgrader_config.py`` puts ``GradingExecute`` in place of nbgrader's ``Execute``. For
each notebook it

* starts the kernel inside a sandbox (``mpcourse.sandbox``: bubblewrap namespaces,
  read-only system and Python, a private size-limited /tmp, no network but its own
  loopback, cgroup limits on processes, memory and CPU); nbclient talks to it over
  ZeroMQ *ipc* sockets that exist only inside the sandbox's /tmp and are reached from
  here through ``/proc/<pid>/root``, so no folder of the grader is writable from inside;
* runs every cell under a timeout keyed on its grade_id, and the whole notebook under a
  budget computed from the *trusted* cells (the gradebook's copy of the source): cells a
  student adds get no time of their own, replays after a restart count too;
* survives a kernel that dies or ignores interrupts: the cell fails with one sentence, a
  fresh sandbox replays the earlier setup and answer cells, grading goes on;
* judges checks where the student's code cannot reach: in the kernel a check call only
  hands the student's objects over (a display output the grader takes out of the
  notebook); which checks a test cell must call is read from the gradebook's copy of the
  test cell; each check is judged by a judge forked from a trusted server started with
  ``python -I`` (``mpcourse.judge.serve``), which runs the student's code in a fresh
  sandbox of its own and decides from what it holds; the verdict comes back on the
  server's pipe and is written into the cell (sentence, timeline picture, the mistake's
  id for class reports; or a "✓" line saying what was verified);
* caps each cell's printed output and kills the sandbox (so everything it started) after
  the notebook.

Without a sandbox (no bubblewrap, no container engine) grading is refused unless the
instructor sets ``MPCOURSE_UNSAFE_NO_SANDBOX=1`` (``mpcourse-grade --unsafe-no-sandbox``),
and then a warning says what is not protected.
"""
from __future__ import annotations

import ast
import asyncio
import base64
import copy
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import Future

from jupyter_client import AsyncKernelManager
from jupyter_core.utils import ensure_async, run_sync
from nbclient.client import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Bool, Dict, Float, Integer

from . import sandbox as _sandbox
from .runner import become_subreaper, kill_tree

GRADING_VARIABLE = "MPCOURSE_GRADING_DIR"          # same name as mpcourse.checks.GRADING_VARIABLE
HANDOVER_MIME = "application/vnd.mpcourse.handover+json"
KERNEL_TREE_VARIABLE = "MPCOURSE_KERNEL_TREE"      # unsafe mode only: tags the kernel's processes
MISTAKE_KEY = "mpcourse"                           # display_data metadata of a failed check (class reports)

#: seconds a cell may run during grading, by grade_id; checks have their own, shorter
#: deadlines, so these are a backstop for code that hangs the kernel itself
CELL_TIMEOUTS: dict[str, int] = {}
TEST_CELL_TIMEOUT = 90
OTHER_CELL_TIMEOUT = 30
MAX_HANDOVERS = 16                                 # check calls one test cell may hand over
MAX_HANDOVER_CHARS = 12 * 2**20                    # base64 characters of one hand-over


def _is_test(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


class KernelStuck(RuntimeError):
    """The kernel did not answer an interrupt: it ignores SIGINT or is stuck outside Python."""


class OutOfBudget(RuntimeError):
    """The notebook used its whole time budget."""


# ----------------------------------------------------------------------------------
# which checks a test cell must call, read from trusted sources

def _check_modules(sources: list[str]) -> dict[str, str]:
    """Names bound to check modules by ``from mpcourse.checks import x`` / ``import ... as``."""
    aliases: dict[str, str] = {}
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "mpcourse.checks":
                for alias in node.names:
                    aliases[alias.asname or alias.name] = f"mpcourse.checks.{alias.name}"
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mpcourse.checks."):
                for alias in node.names:
                    aliases[alias.asname or alias.name] = f"{node.module}:{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("mpcourse.checks.") and alias.asname:
                        aliases[alias.asname] = alias.name
    return aliases


def check_calls(source: str, aliases: dict[str, str]) -> list[tuple[str, str]]:
    """The checks a test cell calls, in source order: [(module, check function name)]."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        target = None
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in aliases:
            module = aliases[func.value.id]
            if ":" not in module:
                target = (module, func.attr)
        elif isinstance(func, ast.Name) and ":" in aliases.get(func.id, ""):
            target = tuple(aliases[func.id].split(":"))
        if target and _is_check(*target):
            found.append((node.lineno, node.col_offset, target))
    return [t for _, _, t in sorted(found)]


def _is_check(module: str, name: str) -> bool:
    try:
        return hasattr(getattr(importlib.import_module(module), name), "judge")
    except Exception:
        return False


def _trusted_sources(resources) -> dict[str, tuple[str, bool]]:
    """Source of every cell as nbgrader stored it from source/ (the gradebook): grade_id -> (source, locked)."""
    info = (resources or {}).get("nbgrader") or {}
    if not all(info.get(k) for k in ("db_url", "notebook", "assignment")):
        return {}
    try:
        from nbgrader.api import Gradebook

        with Gradebook(info["db_url"]) as gb:
            notebook = gb.find_notebook(info["notebook"], info["assignment"])
            return {c.name: (c.source, c.locked) for c in notebook.source_cells}
    except Exception:
        return {}


def plan_checks(nb, resources=None) -> dict[int, list[tuple[str, str]]]:
    """{cell index: the checks it must call} for every test cell that calls course checks."""
    trusted = _trusted_sources(resources)

    def source_of(cell) -> str:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        return trusted[gid][0] if gid in trusted else cell.source

    if trusted:
        imports = [src for src, locked in trusted.values() if locked]
    else:
        imports = [c.source for c in nb.cells if c.cell_type == "code"
                   and c.get("metadata", {}).get("nbgrader", {}).get("locked")]
    aliases = _check_modules(imports)
    for name in _check_submodules():
        aliases.setdefault(name, f"mpcourse.checks.{name}")
    plan = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and _is_test(cell):
            calls = check_calls(source_of(cell), aliases)
            if calls:
                plan[index] = calls
    return plan


def _check_submodules() -> list[str]:
    import pkgutil

    from . import checks

    return [m.name for m in pkgutil.iter_modules(checks.__path__) if not m.name.startswith("_")]


# ----------------------------------------------------------------------------------
# the kernel in a sandbox

class SandboxedKernelManager(AsyncKernelManager):
    """A kernel inside a fresh sandbox, reached over ZeroMQ ipc sockets that live in the sandbox's /tmp."""

    INSIDE_IPC = "/tmp/.kernel/ipc"
    INSIDE_CONNECTION = "/mpcourse-kernel"

    sandbox_env: dict = {}
    sandbox_limits = None

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.transport = "ipc"
        self.ip = self.INSIDE_IPC
        self._private = tempfile.mkdtemp(prefix="mpcourse-kernel-")
        self.connection_file = os.path.join(self._private, "kernel.json")
        self.sandbox: _sandbox.Sandbox | None = None
        self._host_ip: str | None = None

    def _make_url(self, channel: str) -> str:
        return f"ipc://{self._host_ip or self.ip}-{getattr(self, f'{channel}_port')}"

    def client(self, **kwargs):
        kwargs.setdefault("ip", self._host_ip or self.ip)
        return super().client(**kwargs)

    def format_kernel_cmd(self, extra_arguments=None) -> list[str]:
        command = super().format_kernel_cmd(extra_arguments)
        host_file = os.path.realpath(self.connection_file)
        inside_file = f"{self.INSIDE_CONNECTION}/{os.path.basename(host_file)}"
        command = [inside_file if arg == host_file else arg for arg in command]
        spec = _sandbox.Spec(read_only=[(os.path.dirname(host_file), self.INSIDE_CONNECTION)],
                             dirs=[os.path.dirname(self.INSIDE_IPC)], env=dict(self.sandbox_env),
                             limits=self.sandbox_limits or _sandbox.Limits())
        self.sandbox = _sandbox.Sandbox(command, spec, name="kernel")
        return self.sandbox.command()

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        kw["stdout"] = subprocess.DEVNULL          # a student writing to fd 1 must not reach the grader's log
        kw["stderr"] = subprocess.DEVNULL
        await super()._async_launch_kernel(kernel_cmd, **kw)
        self.sandbox.attach(self.provisioner.process.pid)
        deadline = time.monotonic() + 30
        inner = None
        while time.monotonic() < deadline:
            inner = self.sandbox.inner_pid()
            if inner or self.provisioner.process.poll() is not None:
                break
            await asyncio.sleep(0.005)
        if inner is None:
            raise RuntimeError("the kernel's sandbox did not start")
        self._host_ip = f"/proc/{inner}/root{self.INSIDE_IPC}"

    @property
    def kernel_spec(self):
        spec = super().kernel_spec
        if spec is not None:
            spec.interrupt_mode = "message"        # a signal to bwrap would not reach the kernel inside
        return spec

    def kill_sandbox(self) -> None:
        if self.sandbox is not None:
            self.sandbox.kill()

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart)
        shutil.rmtree(self._private, ignore_errors=True)

    cleanup_resources = _async_cleanup_resources


# ----------------------------------------------------------------------------------
# the judges: a trusted server (python -I), one forked judge per check

class JudgeServer:
    """``mpcourse.judge.serve`` in a process of its own; ``submit(request)`` gives a Future of the verdict.

    One server serves every notebook of an nbgrader run (``judge_server``): it is
    started with ``python -I`` (no working folder or user site on its path) and forks a
    fresh judge per check, so a judge costs a fork, not an interpreter start.
    """

    def __init__(self, config: dict):
        self.config = config
        self.futures: dict[str, Future] = {}
        self.lock = threading.Lock()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "MPCOURSE_GRADING"))}
        env["MPCOURSE_JUDGE_CONFIG"] = json.dumps(config)
        self.proc = subprocess.Popen([sys.executable, "-I", "-c", "from mpcourse.judge import serve; serve()"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env=env, cwd=tempfile.gettempdir())
        self.ready = threading.Event()
        self.reader = threading.Thread(target=self._read, name="mpcourse judge server", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if message.get("ready"):
                self.ready.set()
                continue
            with self.lock:
                future = self.futures.pop(str(message.get("id")), None)
            if future is not None:
                future.set_result(message)
        self.ready.set()
        with self.lock:
            futures, self.futures = list(self.futures.values()), {}
        for future in futures:
            future.set_result({"ok": False, "message": "the grader's judge server ended; please tell your "
                               "instructor.", "mistake": "grader/crash", "summary": "", "png": None})

    def submit(self, request: dict) -> Future:
        future: Future = Future()
        rid = uuid.uuid4().hex
        with self.lock:
            self.futures[rid] = future
        try:
            self.proc.stdin.write(json.dumps({**request, "id": rid}).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:
            with self.lock:
                self.futures.pop(rid, None)
            future.set_result({"ok": False, "message": "the grader's judge server is not running; please tell "
                               "your instructor.", "mistake": "grader/crash", "summary": "", "png": None})
        return future

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(120)
        except subprocess.TimeoutExpired:
            kill_tree(self.proc.pid)
            self.proc.wait()
        self.reader.join(5)


_server: JudgeServer | None = None


def judge_server(config: dict) -> JudgeServer:
    """The run's judge server (a new one if the configuration changed or the old one ended)."""
    global _server
    if _server is not None and (_server.config != config or _server.proc.poll() is not None):
        _server.close()
        _server = None
    if _server is None:
        import atexit

        _server = JudgeServer(config)
        atexit.register(_server.close)
    return _server


# ----------------------------------------------------------------------------------
# the preprocessor

class GradingExecute(Execute):
    """nbgrader's Execute, made safe for unattended grading of hostile submissions."""

    test_cell_timeout = Integer(TEST_CELL_TIMEOUT, help="seconds a test cell (checks included) may take").tag(
        config=True)
    other_cell_timeout = Integer(OTHER_CELL_TIMEOUT, help="seconds any other cell may take").tag(config=True)
    cell_timeouts = Dict(help="seconds by grade_id, overriding the two above").tag(config=True)
    budget_margin = Integer(30, help="seconds a notebook gets beyond the sum of its trusted cells' timeouts").tag(
        config=True)
    interrupt_grace = Float(3.0, help="seconds a timed-out kernel gets to answer an interrupt").tag(config=True)
    max_processes = Integer(100, help="live processes a notebook may have; more and its kernel is restarted").tag(
        config=True)
    memory_limit = Integer(2 * 2**30, help="bytes of memory for each sandbox as a whole (0: none)").tag(
        config=True)
    scratch_size = Integer(256 * 2**20, help="bytes of each sandbox's private /tmp (its working folder)").tag(
        config=True)
    cpu_limit = Float(0.0, help="CPUs for each sandbox (0: half the machine, at least one)").tag(config=True)
    max_output_chars = Integer(20_000, help="characters of printed output kept per cell").tag(config=True)
    max_restarts = Integer(4, help="kernel restarts per notebook before the rest is failed").tag(config=True)
    judge_concurrency = Integer(0, help="checks judged at the same time (0: the CPUs, at least 2)").tag(config=True)
    unsafe_no_sandbox = Bool(False, help="grade without a sandbox (students' code runs as you!); also "
                             f"{_sandbox.UNSAFE_VARIABLE}=1").tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.timeout_func = self._get_timeout
        self.raise_on_iopub_timeout = False
        # a test cell's hand-overs travel as output: nbclient waits only 4 s after the reply for the rest of a
        # cell's output, and then drops it. On an overloaded machine a kernel's output can lag that much, and a
        # check lost that way was reported as "checks replaced" (seen once in CI, load average 8 on 2 cores).
        # The wait ends as soon as the kernel says it is idle, so a longer one costs nothing otherwise.
        self.iopub_timeout = max(self.iopub_timeout, 30)
        self.interrupt_on_timeout = True
        self.shutdown_kernel = "immediate"
        self.error_on_timeout = {
            "ename": "CellTimeoutError", "evalue": "this cell did not finish in time",
            "traceback": ["\x1b[0;31mCellTimeoutError\x1b[0m: this cell did not finish within its time limit: "
                          "look for an endless loop, a deadlock or a process that is never joined."]}
        self.unsafe = self.unsafe_no_sandbox or os.environ.get(_sandbox.UNSAFE_VARIABLE, "") not in ("", "0")
        if self.unsafe:
            self.log.warning(_sandbox.UNSAFE_WARNING.format(var=_sandbox.UNSAFE_VARIABLE))
            self._subreaper = become_subreaper()
        else:
            if _sandbox.backend() is None:
                raise _sandbox.SandboxUnavailable(_sandbox.unavailable_reason())
            self._subreaper = False
            self.kernel_manager_class = SandboxedKernelManager

    def _limits(self) -> _sandbox.Limits:
        return _sandbox.Limits(processes=max(64, self.max_processes * 4), memory=self.memory_limit or 2**40,
                               scratch=self.scratch_size, cpus=self.cpu_limit)

    # -- timeouts and the notebook's budget -------------------------------------------
    def _timeout_of(self, cell) -> int:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id")
        if gid in self.cell_timeouts:
            return int(self.cell_timeouts[gid])
        if gid in CELL_TIMEOUTS:
            return CELL_TIMEOUTS[gid]
        return self.test_cell_timeout if _is_test(cell) else self.other_cell_timeout

    def _get_timeout(self, cell):
        timeout = self._timeout_of(cell) if cell is not None else self.other_cell_timeout
        if self._planned is not None and cell is not None and id(cell) in self._planned:
            timeout = self._handover_timeout(timeout)                   # the kernel only hands objects over
        left = self._budget_left()
        return max(1, min(timeout, int(left) + 1)) if left is not None else timeout

    _planned = None
    _plan: dict | None = None
    _budget_end: float | None = None

    def _budget_left(self) -> float | None:
        return None if self._budget_end is None else self._budget_end - time.monotonic()

    def _budget(self, nb, trusted: dict) -> float:
        """The kernel's time for the whole notebook: the trusted code cells' time limits, plus a margin.

        Cells a student adds to the notebook's JSON bring no time of their own, and
        replays after a restart spend the same budget. A test cell whose checks are
        handed over counts only for the hand-over (the judges work while the kernel goes
        on; each check has its own deadline).
        """
        total = 0
        counted = set()
        for index, cell in enumerate(nb.cells):
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if cell.cell_type == "code" and gid and (not trusted or gid in trusted) and gid not in counted:
                timeout = self._timeout_of(cell)
                if index in (self._plan or {}):
                    timeout = self._handover_timeout(timeout)
                total += timeout
                counted.add(gid)
        return total + self.budget_margin

    def _handover_timeout(self, timeout: int) -> int:
        return max(5, min(timeout, self.other_cell_timeout))

    async def _async_handle_timeout(self, timeout, cell=None):
        """Interrupt; a kernel that does not answer within ``interrupt_grace`` is stuck: restart it."""
        from queue import Empty

        self.log.error("Timeout waiting for execute reply (%is): interrupting the kernel", timeout)
        await ensure_async(self.km.interrupt_kernel())
        deadline = time.monotonic() + self.interrupt_grace
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise KernelStuck()
            try:
                msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=left))
            except Empty:
                raise KernelStuck() from None
            if msg.get("msg_type") == "execute_reply":
                return {"content": {**self.error_on_timeout, "status": "error"}}

    # -- output: cap it, take the hand-overs out ---------------------------------------
    def output(self, outs, msg, display_id, cell_index):
        msg_type = msg["msg_type"]
        if msg_type in ("display_data", "update_display_data", "execute_result"):
            data = msg["content"].get("data") or {}
            if HANDOVER_MIME in data:
                self._take_handover(cell_index, data[HANDOVER_MIME])
                return None
            if MISTAKE_KEY in (msg["content"].get("metadata") or {}):      # only the grader writes mistake notes
                msg = copy.deepcopy(msg)
                del msg["content"]["metadata"][MISTAKE_KEY]
        if msg_type == "stream":
            used = self._stream_chars.get(cell_index, 0)
            text = msg["content"].get("text", "")
            if used >= self.max_output_chars:
                self._stream_chars[cell_index] = used + len(text)
                return None
            if used + len(text) > self.max_output_chars:
                msg = copy.deepcopy(msg)
                msg["content"]["text"] = text[: self.max_output_chars - used]
            self._stream_chars[cell_index] = used + len(text)
        return super().output(outs, msg, display_id, cell_index)

    _stream_chars: dict = {}

    def _take_handover(self, cell_index: int, payload) -> None:
        """A check call's hand-over: untrusted plain data, kept aside (never in the notebook)."""
        taken = self._handovers.setdefault(cell_index, [])
        if len(taken) >= MAX_HANDOVERS or not isinstance(payload, dict):
            taken.append(None)
            return
        blob = payload.get("blob")
        fields = (payload.get("module"), payload.get("check"), payload.get("name"))
        if not isinstance(blob, str) or len(blob) > MAX_HANDOVER_CHARS or not all(isinstance(f, str) for f in fields):
            taken.append(None)
            return
        taken.append({"module": fields[0][:100], "check": fields[1][:100], "name": fields[2][:80], "blob": blob})

    def _note_cut_output(self, cell, index) -> None:
        total = self._stream_chars.get(index, 0)
        if total > self.max_output_chars:
            cell.outputs.append(NotebookNode(output_type="stream", name="stderr", text=(
                f"\n[the grader kept the first {self.max_output_chars} of {total} characters this cell printed]\n")))

    # -- kernel start -----------------------------------------------------------------
    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        if isinstance(km, SandboxedKernelManager):
            km.sandbox_env = {GRADING_VARIABLE: "1"}
            km.sandbox_limits = self._limits()
        return km

    async def async_start_new_kernel(self, **kwargs):
        if not self.unsafe:
            return await super().async_start_new_kernel(**kwargs)
        self._kernel_token = uuid.uuid4().hex
        os.environ[KERNEL_TREE_VARIABLE] = self._kernel_token
        os.environ[GRADING_VARIABLE] = "1"
        try:
            await super().async_start_new_kernel(**kwargs)
        finally:
            os.environ.pop(KERNEL_TREE_VARIABLE, None)
            os.environ.pop(GRADING_VARIABLE, None)
        self._kernel_tokens.append(self._kernel_token)

    _kernel_token: str | None = None
    _kernel_tokens: list = []

    def _kernel_pid(self) -> int | None:
        try:
            return self.km.provisioner.process.pid
        except Exception:
            return None

    # -- the notebook ----------------------------------------------------------------
    def preprocess(self, nb, resources=None, km=None):
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self._stream_chars = {}
        self._handovers: dict[int, list] = {}
        self._kernel_tokens = []
        self._kill_reason = None
        self._fatal: set[int] = set()
        self._restarts = 0
        self._verdicts: dict[int, object] = {}
        self._out_of_budget = False
        children_before = _children()
        plan = plan_checks(nb, resources)
        self._plan = plan
        self._planned = {id(nb.cells[i]) for i in plan}
        started = time.monotonic()
        budget = self._budget(nb, _trusted_sources(resources))
        self._budget_end = started + budget
        self._kernel_done = started
        concurrency = self.judge_concurrency or int(os.environ.get("MPCOURSE_JUDGES", 0) or 0) or max(
            2, os.cpu_count() or 2)
        limits = self._limits()
        self._judges = judge_server({"unsafe": self.unsafe, "spares": concurrency + 1, "limits": {
            "processes": limits.processes, "memory": limits.memory, "scratch": limits.scratch,
            "cpus": limits.cpus}}) if plan else None
        self._judge_slots = threading.Semaphore(concurrency)
        stop = threading.Event()
        watchdog = threading.Thread(target=self._watch, args=(stop,), daemon=True, name="mpcourse-watchdog")
        watchdog.start()
        try:
            try:
                run_sync(self._async_grade)()
            except RuntimeError as exc:                # e.g. "Kernel died before replying to kernel_info"
                if self.code_cells_executed or "kernel" not in str(exc).lower():
                    raise
                self.log.warning("the kernel did not start (%s): trying once more", exc)
                import atexit

                atexit.unregister(self._cleanup_kernel)
                self.km = self.create_kernel_manager() if self.km is None else self.km
                self.kc = None
                run_sync(self._async_grade)()
            self._kernel_done = time.monotonic()
            self._apply_verdicts()
            self._hide_hidden_tests()
        finally:
            stop.set()
            watchdog.join()
            self._kill_kernel_tree()
            if self.unsafe:
                self._sweep(children_before)
            self._planned = None
            self._budget_end = None
            self.log.info("graded %s: its cells ran in %.1f s of its %.0f s budget, verdicts %.1f s later",
                          (resources or {}).get("unique_key", "a notebook"), self._kernel_done - started, budget,
                          time.monotonic() - self._kernel_done)
        return self.nb, self.resources

    def _sweep(self, children_before: set[int]) -> None:
        """Unsafe mode: kill what the kernel left, by its environment tag and (Linux) as a subreaper."""
        killed = 0
        if not self._subreaper:
            killed = kill_tagged(set(self._kernel_tokens))
        for pid in _children() - children_before:
            killed += kill_tree(pid)
        _reap_adopted()
        if killed:
            self.log.warning("killed %d process(es) the submission left running", killed)

    async def _async_grade(self) -> None:
        cells = self.nb.cells
        async with self.async_setup_kernel():
            try:
                await self._kernel_info()
                index = 0
                while index < len(cells):
                    cell = cells[index]
                    if cell.cell_type == "code" and cell.source.strip():
                        if self._out_of_budget:
                            self._fail_cell(cell, self._budget_sentence())
                        elif self._restarts > self.max_restarts:
                            self._fail_cell(cell, "this cell was not run: the kernel kept dying or hanging, "
                                            "so grading of this notebook stopped here.")
                        else:
                            await self._run_cell(index)
                    index += 1
            finally:
                self._kill_kernel_tree()

    def _budget_sentence(self) -> str:
        return ("this cell was not run: the notebook used its whole time budget (the sum of its cells' time "
                "limits), so grading stopped here; look for cells that run long or never finish.")

    async def _run_cell(self, index: int) -> None:
        cell = self.nb.cells[index]
        left = self._budget_left()
        if left is not None and left <= 0:
            self._out_of_budget = True
            self._kill_kernel_tree()
            self._fail_cell(cell, self._budget_sentence())
            return
        self._cell_began = _now_since_boot()
        try:
            await self.async_execute_cell(cell, index, execution_count=self.code_cells_executed + 1)
        except (DeadKernelError, KernelStuck) as exc:
            cell = self.nb.cells[index]
            self._fail_cell(cell, self._why_lost(exc, cell))
            self._fatal.add(index)
            if (self._budget_left() or 1) <= 0:
                self._out_of_budget = True
                return
            await self._restart(index)
            return
        cell = self.nb.cells[index]
        self._note_cut_output(cell, index)
        if index in self._plan:
            self._dispatch(index, cell)

    def _why_lost(self, exc, cell) -> str:
        if self._kill_reason:
            reason, self._kill_reason = self._kill_reason, None
            return reason
        if (self._budget_left() or 1) <= 0:
            return self._budget_sentence().replace("this cell was not run", "this cell was stopped")
        if isinstance(exc, KernelStuck):
            return (f"this cell did not finish in {self._timeout_of(cell)} s and ignored the interrupt (SIGINT), so "
                    "the grader restarted Python: look for a deadlock or an endless loop; everything this cell "
                    "defined is lost.")
        return ("Python died while running this cell (os._exit(), a crash, or the process was killed), so the "
                "grader restarted it: everything this cell defined is lost.")

    def _fail_cell(self, cell, message: str) -> None:
        cell.setdefault("outputs", [])
        cell.outputs.append(_error_output("GradingError", message))

    async def _kernel_info(self) -> None:
        msg_id = await ensure_async(self.kc.kernel_info())
        info = await self.async_wait_for_reply(msg_id)
        if info is not None and "language_info" in info["content"]:
            self.nb.metadata["language_info"] = info["content"]["language_info"]

    def _kill_kernel_tree(self) -> None:
        km = getattr(self, "km", None)
        if isinstance(km, SandboxedKernelManager):
            km.kill_sandbox()
            return
        pid = self._kernel_pid()
        if pid:
            kill_tree(pid)

    async def _restart(self, upto: int) -> None:
        """A fresh kernel, with the setup and answer cells before ``upto`` replayed (outputs kept as they were)."""
        self._restarts += 1
        self._kill_kernel_tree()
        try:
            await self._async_cleanup_kernel()
        except Exception as exc:  # a dead kernel may fail to shut down cleanly
            self.log.warning("cleaning up the dead kernel: %s", exc)
            self.kc = None
        self.km = self.create_kernel_manager()
        if self._restarts > self.max_restarts:
            return                                  # not started: the rest of the notebook is failed
        await self.async_start_new_kernel()
        await self.async_start_new_kernel_client()
        await self._kernel_info()
        for j in range(upto):
            original = self.nb.cells[j]
            if (j in self._fatal or j in self._plan or original.cell_type != "code" or not original.source.strip()
                    or _is_test(original)):
                continue
            replay = copy.deepcopy(original)
            try:
                await self.async_execute_cell(replay, j, store_history=False)
            except (DeadKernelError, KernelStuck) as exc:
                self.nb.cells[j] = original
                self._fail_cell(original, self._why_lost(exc, original) + " (when it was run again)")
                self._fatal.add(j)
                if (self._budget_left() or 1) <= 0:
                    self._out_of_budget = True
                    return
                await self._restart(upto)
                return
            finally:
                self.nb.cells[j] = original

    # -- trusted judging ---------------------------------------------------------------
    def _dispatch(self, index: int, cell) -> None:
        """Match the kernel's hand-overs with the checks the trusted source calls; judge them."""
        expected = self._plan[index]
        handovers = self._handovers.pop(index, [])
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            self._verdicts[index] = None                      # failed in the kernel already
            return
        got = [(h["module"], h["check"]) if h else ("?", "?") for h in handovers]
        wanted = [(module, name) for module, name in expected]
        if got != wanted:
            self._verdicts[index] = [{"ok": False, "png": None, "mistake": "answer/checks-replaced", "message": (
                f"the checks in this test cell did not run as written (expected {len(wanted)}, got {len(got)} "
                "matching call(s)): code in your notebook replaced or skipped the grader's checks, so this test "
                "cannot pass; remove code that patches modules or imports.")}]
            return
        budget = float(self._timeout_of(cell))
        self._verdicts[index] = self._judge_cell(handovers, budget)

    def _judge_cell(self, handovers: list[dict], budget: float) -> Future:
        """Judge a test cell's checks in order on the server, stopping at the first failure (as the kernel would)."""
        outcome: Future = Future()

        def run() -> None:
            results = []
            with self._judge_slots:
                deadline = time.monotonic() + budget             # from the moment a judge is free for it
                for handover in handovers:
                    left = deadline - time.monotonic()
                    if left <= 0.5:
                        results.append({"ok": False, "message": f"`{handover['name']}` was not checked: this test "
                                        "cell ran out of time.", "mistake": "answer/out-of-time", "png": None})
                        break
                    verdict = self._judges.submit({**handover, "timeout": left}).result()
                    results.append(verdict)
                    if not verdict.get("ok"):
                        break
            outcome.set_result(results)

        threading.Thread(target=run, name="mpcourse judge cell", daemon=True).start()
        return outcome

    def _apply_verdicts(self) -> None:
        from concurrent.futures import TimeoutError as FutureTimeout

        for index, pending in sorted(self._verdicts.items()):
            if pending is None:
                continue
            cell = self.nb.cells[index]
            try:
                results = pending if isinstance(pending, list) else pending.result(
                    timeout=self._timeout_of(cell) + 30)                  # each check has its own deadline
            except FutureTimeout:
                results = [{"ok": False, "mistake": "answer/out-of-time", "png": None, "message": (
                    "this test was not judged in its time limit; look for code that runs long or never finishes.")}]
            cell = self.nb.cells[index]
            exercise = _exercise_of(cell)
            for verdict in results:
                if verdict.get("ok") is True:
                    label = str(verdict.get("label") or verdict.get("name") or exercise)
                    summary = str(verdict.get("summary") or "")
                    line = f"✓ {label}: {summary}\n" if summary else f"✓ {label}\n"
                    cell.outputs.append(NotebookNode(output_type="stream", name="stdout", text=line))
                    continue
                self._add_failure(cell, exercise, verdict)
                break

    def _hide_hidden_tests(self) -> None:
        """A traceback quotes the cell that raised: for hidden tests keep only its last line (the sentence)."""
        for cell in self.nb.cells:
            if cell.cell_type == "code" and "BEGIN HIDDEN TESTS" in cell.source:
                for output in cell.get("outputs", []):
                    if output.get("output_type") == "error":
                        output["traceback"] = [f"\x1b[0;31m{output.get('ename')}\x1b[0m: {output.get('evalue')}"]

    def _add_failure(self, cell, exercise: str, verdict: dict) -> None:
        message = str(verdict.get("message") or "this check failed.")
        metadata = {MISTAKE_KEY: {"exercise": exercise, "check": str(verdict.get("label") or ""),
                                  "mistake": str(verdict.get("mistake") or "unknown"), "sentence": message}}
        png = verdict.get("png")
        data = {"text/plain": f"mistake: {metadata[MISTAKE_KEY]['mistake']}"}
        if isinstance(png, str):
            try:
                base64.b64decode(png, validate=True)
                data = {"image/png": png, "text/plain": "<timeline picture>"}
            except ValueError:
                pass
        cell.outputs.append(NotebookNode(output_type="display_data", metadata=metadata, data=data))
        cell.outputs.append(_error_output("CheckFailed", message))

    # -- the watchdog ------------------------------------------------------------------
    def _kill_earlier_cells_processes(self, kernel_pid: int) -> bool:
        """Kill the kernel's child processes (with all they started) that an earlier cell started; any?

        A cell may start processes that go on multiplying after it ended (a fork bomb on a
        timer, a slow machine): when they reach the limit the cell that runs then is not to
        blame, and restarting the kernel would cost it its answer.
        """
        import psutil

        began = getattr(self, "_cell_began", None)
        if began is None:
            return False
        kernel = _kernel_process(kernel_pid)
        try:
            roots = kernel.children() if kernel is not None else []
        except psutil.Error:
            return False
        earlier = [p for p in roots if _started_before(p, began - 0.1)]     # create_time has 10 ms ticks
        for proc in earlier:
            kill_tree(proc.pid)
        return bool(earlier)

    def _watch(self, stop: threading.Event) -> None:
        """Restart a kernel whose sandbox grows past ``max_processes`` live processes (a fork bomb, 200 sleepers)."""
        import psutil

        hits_seen: dict[int, int] = {}                         # sandbox -> pids-limit hits already dealt with
        while not stop.wait(0.3):
            km = getattr(self, "km", None)
            pid = self._kernel_pid()
            if pid is None:
                continue
            try:
                procs = psutil.Process(pid).children(recursive=True)
            except psutil.Error:
                continue
            if len(procs) > self.max_processes:
                procs = [p for p in procs if _alive(p)]          # zombies and vanished ones do not count
            sandbox = km.sandbox if isinstance(km, SandboxedKernelManager) else None
            hits = sandbox.process_limit_hits() if sandbox is not None else 0
            limit_hit = hits > hits_seen.get(id(sandbox), 0)
            hits_seen[id(sandbox)] = hits
            if len(procs) <= self.max_processes and not limit_hit:
                continue
            if self._kill_earlier_cells_processes(pid):
                self.log.warning("killed processes an earlier cell started: they grew past the process limit "
                                 "while a later cell ran")
                continue
            self._kill_reason = (f"this cell started more than {self.max_processes} processes at once, so the grader "
                                 "stopped it and restarted Python: start only the processes you need, and join them.")
            if isinstance(km, SandboxedKernelManager):
                km.kill_sandbox()
            else:
                kill_tree(pid, self._kernel_token, variable=KERNEL_TREE_VARIABLE)


def _kernel_process(pid: int):
    """The kernel's Python process in the tree of ``pid`` (the sandbox's bwrap, or the kernel itself); None if gone.

    The shallowest process that runs ipykernel and is not bwrap (forked children share its command line).
    """
    import psutil

    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    kernels = {}
    for proc in tree:
        try:
            if proc.name() != "bwrap" and any("ipykernel" in arg for arg in proc.cmdline()):
                kernels[proc.pid] = proc
        except psutil.Error:
            continue
    for proc in kernels.values():
        try:
            if proc.ppid() not in kernels:
                return proc
        except psutil.Error:
            continue
    return None


def _now_since_boot() -> float:
    """Now on the clock of ``/proc/<pid>/stat``'s start times (psutil's create_time is off by up to 1 s)."""
    boottime = getattr(time, "CLOCK_BOOTTIME", None)
    return time.clock_gettime(boottime) if boottime is not None else time.time()


def _started_before(proc, moment: float) -> bool:
    """Whether ``proc`` began before ``moment`` (a ``_now_since_boot()``)."""
    try:
        if hasattr(time, "CLOCK_BOOTTIME"):
            with open(f"/proc/{proc.pid}/stat", encoding="ascii", errors="replace") as f:
                ticks = int(f.read().rpartition(")")[2].split()[19])
            return ticks / os.sysconf("SC_CLK_TCK") < moment
        return proc.create_time() < moment
    except Exception:  # noqa: BLE001 (psutil.Error, or gone)
        return False


def _exercise_of(cell) -> str:
    """The answer grade_id a test cell belongs to (``withdraw`` for ``withdraw_hidden_2``)."""
    gid = str(cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", ""))
    for suffix in ("_tests", "_hidden"):
        if suffix in gid:
            return gid.split(suffix)[0]
    return gid


def kill_tagged(tokens: set[str], variable: str = KERNEL_TREE_VARIABLE) -> int:
    """Kill every process whose environment carries one of ``tokens`` (unsafe mode's sweep)."""
    import psutil

    if not tokens:
        return 0
    killed = 0
    me = os.getpid()
    for _round in range(5):
        found = []
        for proc in psutil.process_iter():
            if proc.pid == me:
                continue
            try:
                if proc.environ().get(variable) in tokens and proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
            except (psutil.Error, OSError):
                continue
        if not found:
            break
        for proc in found:
            killed += kill_tree(proc.pid)
    return killed


def _alive(proc) -> bool:
    import psutil

    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _reap_adopted() -> None:
    """Collect adopted orphans that ended (as a subreaper we are their parent now)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _error_output(ename: str, message: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=message,
                        traceback=[f"\x1b[0;31m{ename}\x1b[0m: {message}"])


def _children() -> set[int]:
    import psutil

    try:
        return {p.pid for p in psutil.Process().children(recursive=True)}
    except psutil.Error:
        return set()

