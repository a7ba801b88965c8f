"""The nbgrader side: grading that survives hostile submissions and judges outside the kernel.

``nbgrader_config.py`` puts ``GradingExecute`` in place of nbgrader's ``Execute``. For
each notebook it

* runs every cell under a timeout keyed on its grade_id; a kernel that does not answer
  an interrupt (SIGINT ignored, stuck in C code) is killed, restarted, and the earlier
  setup and answer cells are replayed, so one hostile cell costs only its exercise;
* survives a kernel that dies (``os._exit``, a crash, too many processes): the cell is
  marked failed, a fresh kernel replays the earlier cells, grading goes on;
* judges checks in *trusted* interpreters: in the kernel a check call only hands the
  student's objects over (``MPCOURSE_GRADING_DIR``); which checks a test cell must call
  is read from the test cell source that nbgrader restored from the gradebook; each
  judge runs in a fresh ``python`` started here, and its verdict (sentence + timeline
  picture) is written into the cell's outputs, whatever the kernel printed;
* caps each cell's printed output, limits each kernel's memory (RLIMIT_AS) and process
  count (RLIMIT_NPROC where it applies, and a watchdog that kills a tree that grows past
  ``max_processes``), and kills every process the notebook started when it is done: by
  an environment tag, by descent, and (Linux) as a child subreaper that adopts orphans
  that left the kernel's process group and session.

``mpcourse-grade`` (``mpcourse.parallel``) grades a whole class in parallel.
"""
from __future__ import annotations

import ast
import base64
import copy
import importlib
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from jupyter_core.utils import ensure_async, run_sync
from nbclient.client import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Bool, Dict, Float, Integer

from .runner import become_subreaper, kill_tree

KERNEL_TREE_VARIABLE = "MPCOURSE_KERNEL_TREE"
GRADING_VARIABLE = "MPCOURSE_GRADING_DIR"          # same name as mpcourse.checks.GRADING_VARIABLE

#: seconds a cell may run during grading, by grade_id (test cells restored from the
#: gradebook by nbgrader, so a student cannot change them); checks have their own,
#: shorter deadlines, so these are a backstop for code that hangs the kernel itself
CELL_TIMEOUTS: dict[str, int] = {}
TEST_CELL_TIMEOUT = 90
OTHER_CELL_TIMEOUT = 30

_JUDGE_COMMAND = "from mpcourse.checks import _judge_main; _judge_main()"


def cell_timeout(cell) -> int:
    """The timeout of one cell during grading, keyed on its grade_id."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    grade_id = meta.get("grade_id")
    if grade_id in CELL_TIMEOUTS:
        return CELL_TIMEOUTS[grade_id]
    return TEST_CELL_TIMEOUT if _is_test(cell) else OTHER_CELL_TIMEOUT


def _is_test(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


class KernelStuck(RuntimeError):
    """The kernel did not answer an interrupt: it ignores SIGINT or is stuck outside Python."""


class _KernelLost(RuntimeError):
    """The kernel is gone or useless; the message says why, for the student."""


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


def _trusted_sources(resources) -> dict[str, str]:
    """Source of every cell as nbgrader stored it from source/ (the gradebook): grade_id -> source."""
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
# resource limits

def limit_process(pid: int | None, memory: int, processes: int) -> None:
    """RLIMIT_AS (bytes, per process) and RLIMIT_NPROC (per user: our count + ``processes``).

    Linux: set on a running process (prlimit); ``pid=None``: this process (any POSIX).
    RLIMIT_NPROC is not enforced for root; the grader's watchdog covers that case.
    """
    try:
        import resource
    except ImportError:          # Windows
        return
    import psutil

    limits = [(resource.RLIMIT_CORE, 0)]
    if memory:
        limits.append((resource.RLIMIT_AS, memory))
    if processes and hasattr(resource, "RLIMIT_NPROC") and os.geteuid() != 0:     # root is never limited
        try:
            uid = os.getuid()
            mine = sum(1 for p in psutil.process_iter(["uids"]) if p.info["uids"] and p.info["uids"].real == uid)
        except Exception:
            mine = 0
        limits.append((resource.RLIMIT_NPROC, mine + processes))
    for which, value in limits:
        try:
            if pid is None:
                resource.setrlimit(which, (value, value))
            elif sys.platform.startswith("linux"):
                psutil.Process(pid).rlimit(which, (value, value))
        except (ValueError, OSError, psutil.Error):
            pass


# ----------------------------------------------------------------------------------
# judges: fresh interpreters that run one check each

class _Judges:
    """Runs check calls in fresh interpreters, a few at a time, one warm spare per slot."""

    def __init__(self, modules: list[str], concurrency: int, memory: int, processes: int, log, cwd=None,
                 spares: int = 0):
        self.modules = sorted(set(modules))
        self.memory, self.processes, self.log = memory, processes, log
        self.pool = ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="mpcourse-judge")
        self.spares: queue.Queue = queue.Queue()
        self.live: dict[int, str] = {}
        self.tokens: list[str] = []
        self.lock = threading.Lock()
        self.folder = tempfile.mkdtemp(prefix="mpcourse-judges-")
        self.closed = False
        self.warming: list[threading.Thread] = []
        self.cwd = cwd if cwd and os.path.isdir(cwd) else self.folder
        # warm interpreters (python started, checks imported) wait while the kernel starts
        for _ in range(max(1, concurrency, spares)):
            self._warm()

    def _warm(self) -> None:
        if self.closed:
            return
        token = uuid.uuid4().hex
        env = dict(os.environ)
        env[KERNEL_TREE_VARIABLE] = token
        env.pop(GRADING_VARIABLE, None)
        for name in ("TMPDIR", "TEMP", "TMP"):      # a judge killed at its deadline leaves its temp folders here
            env[name] = self.folder
        if self.memory:
            env["MPCOURSE_JUDGE_MEMORY"] = str(self.memory)
        try:
            proc = subprocess.Popen([sys.executable, "-c", _JUDGE_COMMAND, *self.modules], stdin=subprocess.PIPE,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                                    cwd=self.cwd)
        except OSError as exc:
            self.log.error("could not start a judge: %s", exc)
            return
        limit_process(proc.pid, self.memory, self.processes)
        with self.lock:
            self.live[proc.pid] = token
            self.tokens.append(token)
        self.spares.put((proc, token))

    def submit(self, calls: list[dict], budget: float):
        return self.pool.submit(self._judge_cell, calls, budget)

    def _judge_cell(self, calls: list[dict], budget: float) -> list[dict]:
        """Judge a test cell's calls in order, stopping at the first failure (as the kernel would)."""
        results = []
        deadline = time.monotonic() + budget
        for call in calls:
            left = deadline - time.monotonic()
            if left <= 0.5:
                results.append({"ok": False, "message": f"`{call['name']}` was not checked: this test cell ran out "
                                "of time.", "png": None})
                break
            verdict = self._judge_one(call, left)
            results.append(verdict)
            if not verdict["ok"]:
                break
        return results

    def _judge_one(self, call: dict, budget: float) -> dict:
        try:
            proc, token = self.spares.get(timeout=30)
        except queue.Empty:
            return {"ok": False, "message": "the grader could not start a checking process; please tell your "
                    "instructor.", "png": None}
        warming = threading.Thread(target=self._warm, daemon=True)
        with self.lock:
            self.warming.append(warming)
        warming.start()
        result_path = os.path.join(self.folder, uuid.uuid4().hex + ".json")
        judge_timeout = max(1.0, budget - 2.0)          # the judge reports where it was stuck first
        request = {"module": call["module"], "check": call["check"], "name": call["name"],
                   "objects": call["objects"], "timeout": judge_timeout, "result": result_path}
        try:
            proc.stdin.write((json.dumps(request) + "\n").encode())
            proc.stdin.close()
            proc.wait(timeout=budget + 1.0)
        except subprocess.TimeoutExpired:
            pass
        except OSError:
            pass
        finally:
            kill_tree(proc.pid)            # escaped processes: swept by token when the notebook is done
            proc.wait()
            with self.lock:
                self.live.pop(proc.pid, None)
        try:
            with open(result_path, encoding="utf-8") as f:
                result = json.load(f)
            return {"ok": result.get("ok") is True, "message": str(result.get("message", "")),
                    "png": result.get("png") if isinstance(result.get("png"), str) else None}
        except (OSError, ValueError):
            return {"ok": False, "message": f"the check of `{call['name']}` did not finish in {budget:.0f} s, or "
                    "your code ended the checking process: make sure it returns and starts no endless "
                    "processes.", "png": None}

    def trees(self) -> dict[int, str]:
        with self.lock:
            return dict(self.live)

    def close(self) -> None:
        self.closed = True
        self.pool.shutdown(wait=True)
        with self.lock:
            warming = list(self.warming)
        for thread in warming:
            thread.join()
        while True:
            try:
                proc, token = self.spares.get_nowait()
            except queue.Empty:
                break
            kill_tree(proc.pid)
            proc.wait()
        for pid in self.trees():
            kill_tree(pid)
        shutil.rmtree(self.folder, ignore_errors=True)


# ----------------------------------------------------------------------------------
# the preprocessor

class GradingExecute(Execute):
    """nbgrader's Execute, made safe for unattended grading of hostile submissions."""

    test_cell_timeout = Integer(TEST_CELL_TIMEOUT, help="seconds a test cell (checks included) may take").tag(
        config=True)
    other_cell_timeout = Integer(OTHER_CELL_TIMEOUT, help="seconds any other cell may take").tag(config=True)
    cell_timeouts = Dict(help="seconds by grade_id, overriding the two above").tag(config=True)
    interrupt_grace = Float(3.0, help="seconds a timed-out kernel gets to answer an interrupt").tag(config=True)
    max_processes = Integer(100, help="live processes a notebook may have; more and its tree is killed").tag(
        config=True)
    memory_limit = Integer(4 * 2**30, help="RLIMIT_AS of the kernel and of each judge, bytes (0: none)").tag(
        config=True)
    max_output_chars = Integer(20_000, help="characters of printed output kept per cell").tag(config=True)
    max_restarts = Integer(4, help="kernel restarts per notebook before the rest is failed").tag(config=True)
    judge_concurrency = Integer(0, help="checks judged at the same time (0: half the CPUs, at least 2)").tag(
        config=True)
    trusted_checks = Bool(True, help="judge checks outside the kernel, in fresh interpreters").tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.timeout_func = self._timeout_of
        self.raise_on_iopub_timeout = False
        self.interrupt_on_timeout = True
        self.shutdown_kernel = "immediate"
        self.error_on_timeout = {
            "ename": "CellTimeoutError", "evalue": "this cell did not finish in time",
            "traceback": ["\x1b[0;31mCellTimeoutError\x1b[0m: this cell did not finish within its time limit: "
                          "look for an endless loop, a deadlock or a process that is never joined."]}
        self._subreaper = become_subreaper()

    # -- timeouts --------------------------------------------------------------------
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
            return max(5, min(timeout, self.other_cell_timeout))    # the kernel only hands objects over
        return timeout

    _planned = None

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

    # -- output cap ------------------------------------------------------------------
    def output(self, outs, msg, display_id, cell_index):
        if msg["msg_type"] == "stream":
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

    def _note_cut_output(self, cell, index) -> None:
        total = self._stream_chars.get(index, 0)
        if total > self.max_output_chars:
            cell.outputs.append(NotebookNode(output_type="stream", name="stderr", text=(
                f"\n[the grader kept the first {self.max_output_chars} of {total} characters this cell printed]\n")))

    # -- kernel start: environment tags and limits -----------------------------------
    async def async_start_new_kernel(self, **kwargs):
        self._kernel_token = uuid.uuid4().hex
        os.environ[KERNEL_TREE_VARIABLE] = self._kernel_token
        if self._grading_dir:
            os.environ[GRADING_VARIABLE] = self._grading_dir
        else:
            os.environ.pop(GRADING_VARIABLE, None)
        try:
            await super().async_start_new_kernel(**kwargs)
        finally:
            os.environ.pop(KERNEL_TREE_VARIABLE, None)
            os.environ.pop(GRADING_VARIABLE, None)
        pid = self._kernel_pid()
        if pid:
            limit_process(pid, self.memory_limit, self.max_processes * 4)
        self._kernel_tokens.append(self._kernel_token)

    _grading_dir: str | None = None
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
        env_before = {k: os.environ.get(k) for k in (KERNEL_TREE_VARIABLE, GRADING_VARIABLE)}
        self._stream_chars = {}
        self._kernel_tokens = []
        self._kill_reason = None
        self._fatal: set[int] = set()
        self._restarts = 0
        self._verdicts: dict[int, object] = {}
        children_before = _children()
        plan = plan_checks(nb, resources) if self.trusted_checks else {}
        self._plan = plan
        self._planned = {id(nb.cells[i]) for i in plan}
        self._grading_dir = tempfile.mkdtemp(prefix="mpcourse-grading-") if plan else None
        judges = None
        if plan:
            concurrency = self.judge_concurrency or int(os.environ.get("MPCOURSE_JUDGES", 0)) or max(
                2, (os.cpu_count() or 2) // 2)
            judges = _Judges([m for calls in plan.values() for m, _ in calls], concurrency, self.memory_limit,
                             self.max_processes * 4, self.log,
                             cwd=(resources or {}).get("metadata", {}).get("path"),
                             spares=min(sum(len(calls) for calls in plan.values()), concurrency + 2))
        self._judges = judges
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
            if judges is not None:
                self._apply_verdicts()
        finally:
            stop.set()
            watchdog.join()
            if judges is not None:
                judges.close()
            killed = 0
            if not self._subreaper:          # with a subreaper every escapee is still our descendant
                tokens = set(self._kernel_tokens) | set(judges.tokens if judges is not None else ())
                killed = kill_tagged(tokens)
            for pid in _children() - children_before:          # orphans that cleared their environment
                killed += kill_tree(pid)
            _reap_adopted()
            if killed:
                self.log.warning("killed %d process(es) the submission left running", killed)
            if self._grading_dir:
                shutil.rmtree(self._grading_dir, ignore_errors=True)
            for key, value in env_before.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            self._planned = None
        return self.nb, self.resources

    async def _async_grade(self) -> None:
        cells = self.nb.cells
        async with self.async_setup_kernel():
            try:
                await self._kernel_info()
                index = 0
                while index < len(cells):
                    cell = cells[index]
                    if cell.cell_type == "code" and cell.source.strip():
                        if self._restarts > self.max_restarts:
                            self._fail_cell(cell, "this cell was not run: the kernel kept dying or hanging, "
                                            "so grading of this notebook stopped here.")
                        else:
                            await self._run_cell(index)
                    index += 1
            finally:
                self._kill_kernel_tree()

    async def _run_cell(self, index: int) -> None:
        cell = self.nb.cells[index]
        if index in self._plan:
            self._clear_calls()
        try:
            await self.async_execute_cell(cell, index, execution_count=self.code_cells_executed + 1)
        except (DeadKernelError, KernelStuck) as exc:
            cell = self.nb.cells[index]
            self._fail_cell(cell, self._why_lost(exc, cell))
            self._fatal.add(index)
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
        pid = self._kernel_pid()          # its descendants; escaped processes are swept by token at the end
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
                await self._restart(upto)
                return
            finally:
                self.nb.cells[j] = original

    # -- trusted judging ---------------------------------------------------------------
    def _clear_calls(self) -> None:
        for entry in os.listdir(self._grading_dir):
            path = os.path.join(self._grading_dir, entry)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.remove(path)
                except OSError:
                    pass

    def _dispatch(self, index: int, cell) -> None:
        """Match the kernel's hand-overs with the checks the trusted source calls; judge them."""
        expected = self._plan[index]
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            self._verdicts[index] = None                      # failed in the kernel already
            return
        private = os.path.join(self._judges.folder, f"cell-{index}")      # the grader's, not the kernel's
        os.makedirs(private, exist_ok=True)
        calls = []
        for entry in sorted(os.listdir(self._grading_dir)):
            if not entry.endswith(".json"):
                continue
            stem = os.path.join(self._grading_dir, entry[:-5])
            try:
                if os.path.getsize(stem + ".json") > 10_000:
                    raise ValueError("too big")
                with open(stem + ".json", encoding="utf-8") as f:
                    meta = json.load(f)
                objects = os.path.join(private, f"{len(calls)}.objects")
                os.replace(stem + ".objects", objects)
                calls.append({"module": str(meta["module"]), "check": str(meta["check"]),
                              "name": str(meta.get("name", ""))[:80], "objects": objects})
            except (OSError, ValueError, KeyError, TypeError):
                calls.append({"module": "?", "check": "?", "name": "?", "objects": ""})
        if [(c["module"], c["check"]) for c in calls] != [tuple(e) for e in expected]:
            got = len(calls)
            self._verdicts[index] = [{"ok": False, "png": None, "message": (
                f"the checks in this test cell did not run as written (expected {len(expected)}, got {got} "
                "matching call(s)): code in your notebook replaced or skipped the grader's checks, so this test "
                "cannot pass; remove code that patches modules or imports.")}]
            return
        self._verdicts[index] = self._judges.submit(calls, float(self._timeout_of(cell)))

    def _apply_verdicts(self) -> None:
        for index, pending in sorted(self._verdicts.items()):
            if pending is None:
                continue
            results = pending if isinstance(pending, list) else pending.result()
            cell = self.nb.cells[index]
            for verdict in results:
                if verdict["ok"]:
                    continue
                if verdict.get("png"):
                    try:
                        base64.b64decode(verdict["png"], validate=True)
                        cell.outputs.append(NotebookNode(output_type="display_data", metadata={}, data={
                            "image/png": verdict["png"], "text/plain": "<timeline picture>"}))
                    except ValueError:
                        pass
                cell.outputs.append(_error_output("CheckFailed", verdict["message"]))
                break

    # -- the watchdog ------------------------------------------------------------------
    def _watch(self, stop: threading.Event) -> None:
        """Kill a tree that grows past ``max_processes`` live processes (a fork bomb, 200 sleepers)."""
        import psutil

        me = psutil.Process()
        while not stop.wait(0.3):
            try:
                procs = me.children(recursive=True)
            except psutil.Error:
                continue
            if len(procs) > self.max_processes:
                procs = [p for p in procs if _alive(p)]           # zombies and vanished ones do not count
            if len(procs) <= self.max_processes:
                continue
            judges = self._judges.trees() if self._judges is not None else {}
            bomb_in_judge = False
            for pid, token in judges.items():
                try:
                    size = len(psutil.Process(pid).children(recursive=True))
                except psutil.Error:
                    continue
                if size > self.max_processes // 2:
                    bomb_in_judge = True
                    kill_tree(pid, token, variable=KERNEL_TREE_VARIABLE)
            if bomb_in_judge:
                continue
            kernel = self._kernel_pid()
            self._kill_reason = (f"this cell started more than {self.max_processes} processes at once, so the grader "
                                 "stopped it and restarted Python: start only the processes you need, and join them.")
            kill_tree(kernel, self._kernel_token, variable=KERNEL_TREE_VARIABLE)
            known = {kernel, *judges}
            for proc in me.children():                      # adopted orphans of the kernel
                if proc.pid not in known and not _is_judge(proc):
                    kill_tree(proc.pid)


def kill_tagged(tokens: set[str], variable: str = KERNEL_TREE_VARIABLE) -> int:
    """Kill every process whose environment carries one of ``tokens`` (one scan for all of them)."""
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
    """Collect adopted orphans that ended (as a subreaper we are their parent now), never our own Popens."""
    import psutil

    try:
        children = psutil.Process().children()
    except psutil.Error:
        return
    for proc in children:
        try:
            if proc.status() != psutil.STATUS_ZOMBIE or "ipykernel" in " ".join(proc.cmdline()) or _is_judge(proc):
                continue
            os.waitpid(proc.pid, os.WNOHANG)
        except (psutil.Error, OSError):
            continue


def _is_judge(proc) -> bool:
    try:
        return _JUDGE_COMMAND in " ".join(proc.cmdline())
    except Exception:
        return False


def _error_output(ename: str, message: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=message,
                        traceback=[f"\x1b[0;31m{ename}\x1b[0m: {message}"])


def _children() -> set[int]:
    import psutil

    try:
        return {p.pid for p in psutil.Process().children(recursive=True)}
    except psutil.Error:
        return set()


def main(argv: list[str] | None = None) -> int:
    """``mpcourse-grade``: see ``mpcourse.parallel``."""
    from .parallel import main as parallel_main

    return parallel_main(argv)
