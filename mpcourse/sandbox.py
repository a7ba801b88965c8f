"""Sandboxes for students' code while grading: bubblewrap on Linux.

A sandbox is a fresh set of Linux namespaces (pid, ipc, uts, network with only its own
loopback, user, mount) made by bubblewrap (``bwrap``). Its file system holds only what
the code needs, read-only: the system's libraries, the Python installation, the
virtual environment, the ``mpcourse`` package. Its working folder and ``/tmp`` are a
private, size-limited tmpfs. The gradebook, ``source/``, other students' folders,
``HOME``, the grader's own processes and sockets are simply not there. Where the
machine allows it (root, or a delegated cgroup), the sandbox as a whole is limited in
processes and threads, memory and CPU. Killing its first process ends the pid
namespace, and with it every process inside, whatever they did to escape.

``backend()`` says whether this machine can make one; without it grading is refused
unless the instructor sets ``MPCOURSE_UNSAFE_NO_SANDBOX=1``, and then a warning says
what is not protected (macOS and Windows: run the grader in a Linux VM or WSL 2).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field

UNSAFE_VARIABLE = "MPCOURSE_UNSAFE_NO_SANDBOX"
CGROUP_VARIABLE = "MPCOURSE_CGROUP"             # the cgroup folder sandboxes are made in (default: mpcourse)
BACKEND_VARIABLE = "MPCOURSE_SANDBOX"          # "none": behave as if bubblewrap were missing
HOME = "/tmp/home"
WORK = "/tmp/work"


@dataclass
class Limits:
    """What one sandbox may use in total (all its processes together)."""
    processes: int = 512                 # tasks: processes and threads (pids cgroup)
    memory: int = 2 * 2**30              # bytes of memory, tmpfs included (memory cgroup)
    scratch: int = 256 * 2**20           # bytes of its /tmp (working folder, HOME)
    cpus: float = 0.0                    # CPUs (cgroup quota); 0: half the machine, at least one


@dataclass
class Spec:
    """What goes into a sandbox besides the system, Python and the package."""
    read_only: list[tuple[str, str]] = field(default_factory=list)     # (host path, path inside)
    dirs: list[str] = field(default_factory=list)                      # empty folders to make inside /tmp
    env: dict[str, str] = field(default_factory=dict)
    cwd: str = WORK
    limits: Limits = field(default_factory=Limits)
    network: bool = False                # True: the host's network (never for students' code)


class SandboxUnavailable(RuntimeError):
    """No sandbox can be made here; the message says why and what to do."""


def backend() -> str | None:
    """The sandbox this machine can make: "bwrap", or None."""
    wanted = os.environ.get(BACKEND_VARIABLE, "").strip()
    if wanted == "none":                       # as if nothing were installed (tests of the refusal)
        return None
    if sys.platform.startswith("linux") and shutil.which("bwrap") and _bwrap_works():
        return "bwrap"
    return None


_BWRAP_OK: bool | None = None


def _bwrap_works() -> bool:
    global _BWRAP_OK
    if _BWRAP_OK is None:
        try:
            result = subprocess.run(["bwrap", "--unshare-all", "--unshare-user", "--die-with-parent",
                                     "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"],
                                    capture_output=True, timeout=20)
            _BWRAP_OK = result.returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            _BWRAP_OK = False
    return _BWRAP_OK


def unavailable_reason() -> str:
    return ("no sandbox is available on this machine: install bubblewrap (Debian/Ubuntu: `apt-get install "
            "bubblewrap`; it needs user namespaces, which most Linux distributions allow; on macOS or Windows, "
            "grade inside a Linux VM or WSL 2). "
            f"Grading without a sandbox lets students' code read and change the gradebook, the solutions and "
            f"other students' work; if you accept that, set {UNSAFE_VARIABLE}=1 (or pass --unsafe-no-sandbox "
            "to mpcourse-grade).")


UNSAFE_WARNING = (
    "WARNING: grading WITHOUT a sandbox ({var}=1). Students' code runs as you, in your course folder: it can "
    "read the solutions, hidden tests and other students' submissions, change the gradebook and the grader's "
    "code, signal the grader, use the network and leave processes behind. Timeouts, kernel restarts and the "
    "trusted judges still work. Use this only for code you trust.")


# ----------------------------------------------------------------------------------
# mounts

def _python_paths() -> list[str]:
    """Folders the interpreter, the virtual environment and the course package live in."""
    import mpcourse

    paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), sys.prefix, sys.base_prefix,
             os.path.dirname(os.path.realpath(sys.executable)), os.path.dirname(sys.executable)}
    package = os.path.dirname(os.path.realpath(mpcourse.__file__))
    paths.add(package)
    ordered = sorted(paths, key=len)
    kept = []
    for path in ordered:                       # a folder inside one already mounted needs no mount
        if not any(path == k or path.startswith(k.rstrip(os.sep) + os.sep) for k in kept):
            kept.append(path)
    return [p for p in kept if os.path.exists(p) and p not in ("/usr", "/")]


def _system_mounts() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for path in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
                 "/etc/nsswitch.conf", "/etc/fonts", "/etc/alternatives", "/etc/mime.types"):
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    return args


def _identity_files(folder: str) -> list[str]:
    """A passwd, group and hosts of the sandbox's own (the host's say who else uses the machine)."""
    files = {"passwd": "student:x:1000:1000:student:/tmp/home:/bin/sh\nroot:x:0:0:root:/root:/bin/sh\n",
             "group": "student:x:1000:\nroot:x:0:\n",
             "hosts": "127.0.0.1 localhost\n::1 localhost\n",
             "hostname": "sandbox\n"}
    args = []
    for name, text in files.items():
        path = os.path.join(folder, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        args += ["--ro-bind", path, f"/etc/{name}"]
    return args


# ----------------------------------------------------------------------------------
# cgroups: limits on the sandbox as a whole

def _cgroup_parent() -> str:
    return os.environ.get(CGROUP_VARIABLE, "mpcourse").strip("/") or "mpcourse"


def _cgroup_roots() -> list[str]:
    return ["/sys/fs/cgroup", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/cpu"]


def cgroups_left(parent: str) -> list[str]:
    """Sandbox cgroups still present under ``parent`` (a run that cleaned up leaves none)."""
    found = []
    for root in _cgroup_roots():
        folder = os.path.join(root, parent)
        if os.path.isdir(folder) and os.path.exists(os.path.join(folder, "cgroup.procs")):
            found += [os.path.join(folder, d) for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d))]
    return found


def remove_cgroup_parent(parent: str) -> None:
    """Remove a (now empty) parent folder of sandbox cgroups, e.g. a test run's own."""
    for root in _cgroup_roots():
        folder = os.path.join(root, parent)
        try:
            os.rmdir(folder)
        except OSError:
            pass


#: a sandbox's cgroup competes for the CPU with the weight of this many busy processes (one group's
#: default weight is one process's: under load, a sandbox would crawl next to the grader's own processes)
CPU_WEIGHT = 4


class _Cgroups:
    """The sandbox's cgroup(s), v2 or v1, when this process may make them; else nothing is limited here."""

    def __init__(self, limits: Limits, name: str):
        self.dirs: list[str] = []
        self.limits = limits
        if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
            self._make_v2(name)
        elif os.path.isdir("/sys/fs/cgroup/pids"):
            self._make_v1(name)

    def _write(self, path: str, value: str) -> bool:
        try:
            with open(path, "w", encoding="ascii") as f:
                f.write(value)
            return True
        except OSError:
            return False

    def _cpus(self) -> float:
        return self.limits.cpus or max(1.0, (os.cpu_count() or 2) / 2)

    def _make_v2(self, name: str) -> None:
        level = "/sys/fs/cgroup"
        try:
            for part in _cgroup_parent().split("/"):       # each level must hand its controllers down
                self._write(os.path.join(level, "cgroup.subtree_control"), "+pids +memory +cpu")
                level = os.path.join(level, part)
                os.makedirs(level, exist_ok=True)
            self._write(os.path.join(level, "cgroup.subtree_control"), "+pids +memory +cpu")
            path = os.path.join(level, name)
            os.mkdir(path)
        except OSError:
            return
        self.dirs.append(path)
        self._write(os.path.join(path, "pids.max"), str(self.limits.processes))
        self._write(os.path.join(path, "memory.max"), str(self.limits.memory))
        self._write(os.path.join(path, "memory.swap.max"), "0")
        self._write(os.path.join(path, "cpu.max"), f"{int(self._cpus() * 100000)} 100000")
        self._write(os.path.join(path, "cpu.weight"), str(100 * CPU_WEIGHT))

    def _make_v1(self, name: str) -> None:
        settings = {"pids": {"pids.max": str(self.limits.processes)},
                    "memory": {"memory.limit_in_bytes": str(self.limits.memory)},
                    "cpu": {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": str(int(self._cpus() * 100000)),
                            "cpu.shares": str(1024 * CPU_WEIGHT)}}
        for controller, values in settings.items():
            root = f"/sys/fs/cgroup/{controller}"
            path = os.path.join(root, _cgroup_parent(), name)
            try:
                os.makedirs(path)
            except OSError:
                continue
            self.dirs.append(path)
            for key, value in values.items():
                self._write(os.path.join(path, key), value)
            if controller == "memory":
                self._write(os.path.join(path, "memory.memsw.limit_in_bytes"), str(self.limits.memory))

    @property
    def limited(self) -> bool:
        return bool(self.dirs)

    def procs_files(self) -> list[str]:
        return [os.path.join(d, "cgroup.procs") for d in self.dirs]

    def pids(self) -> list[int]:
        for path in self.procs_files()[:1]:
            try:
                with open(path, encoding="ascii") as f:
                    return [int(line) for line in f if line.strip()]
            except OSError:
                return []
        return []

    def process_limit_hits(self) -> int:
        """How often a fork or a new thread failed at the pids limit so far (``pids.events``)."""
        for d in self.dirs:
            try:
                with open(os.path.join(d, "pids.events"), encoding="ascii") as f:
                    return sum(int(line.split()[-1]) for line in f if line.startswith("max"))
            except (OSError, ValueError):
                continue
        return 0

    def remove(self) -> None:
        for d in self.dirs:
            for _attempt in range(50):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


# ----------------------------------------------------------------------------------
# a sandbox

class Sandbox:
    """One sandbox around ``argv``: ``command()`` to have someone else start it, or ``start()``."""

    def __init__(self, argv: list[str], spec: Spec, kind: str | None = None, name: str = "sandbox"):
        self.kind = kind or backend()
        if self.kind is None:
            raise SandboxUnavailable(unavailable_reason())
        self.argv = list(argv)
        self.spec = spec
        self.id = f"{name}-{uuid.uuid4().hex[:10]}"
        self.folder = tempfile.mkdtemp(prefix="mpcourse-sandbox-")
        self.cgroups = _Cgroups(spec.limits, self.id) if self.kind == "bwrap" else None
        self.proc: subprocess.Popen | None = None
        self.pid: int | None = None          # the process we (or a kernel manager) started
        self._root = None                    # psutil's handle on it: safe when the pid is reused later

    # -- the command -----------------------------------------------------------------------
    def command(self) -> list[str]:
        if self.kind == "bwrap":
            return self._wrap_in_cgroups(self._bwrap())
        raise SandboxUnavailable(f"unknown sandbox backend {self.kind!r}")

    def _env(self) -> dict[str, str]:
        env = {"PATH": f"{os.path.dirname(sys.executable)}:/usr/local/bin:/usr/bin:/bin", "HOME": HOME,
               "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TMPDIR": "/tmp", "PYTHONDONTWRITEBYTECODE": "1",
               "MPLCONFIGDIR": f"{HOME}/.matplotlib", "IPYTHONDIR": f"{HOME}/.ipython",
               "JUPYTER_RUNTIME_DIR": f"{HOME}/.jupyter-runtime", "JUPYTER_PLATFORM_DIRS": "1"}
        for key in ("COURSE_START_METHOD",):
            if key in os.environ:
                env[key] = os.environ[key]
        env.update(self.spec.env)
        return env

    def _bwrap(self) -> list[str]:
        limits = self.spec.limits
        args = ["bwrap", "--unshare-user", "--uid", "1000", "--gid", "1000", "--unshare-pid", "--unshare-ipc",
                "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox", "--die-with-parent",
                "--new-session", "--clearenv"]
        if not self.spec.network:
            args.append("--unshare-net")
        args += _system_mounts()
        args += _identity_files(self.folder)
        args += ["--proc", "/proc", "--dev", "/dev",
                 "--size", str(limits.scratch), "--tmpfs", "/tmp",
                 "--size", str(min(limits.scratch, 64 * 2**20)), "--tmpfs", "/dev/shm",
                 "--dir", HOME, "--dir", WORK]
        for path in _python_paths():          # after the tmpfs: a virtual environment may live under /tmp
            args += ["--ro-bind", path, path]
        for inside in self.spec.dirs:
            args += ["--dir", inside]
        for host, inside in self.spec.read_only:
            args += ["--ro-bind", host, inside]
        for key, value in self._env().items():
            args += ["--setenv", key, value]
        args += ["--chdir", self.spec.cwd, "--", *self.argv]
        return args

    def _wrap_in_cgroups(self, args: list[str]) -> list[str]:
        """Enter the sandbox's cgroups before bwrap runs, so every process it starts is counted."""
        files = self.cgroups.procs_files() if self.cgroups is not None else []
        if not files:
            return args
        script = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'
        return ["/bin/sh", "-c", script, "sh", *files, "--", *args]

    # -- running ---------------------------------------------------------------------------
    def start(self, **popen_kwargs) -> subprocess.Popen:
        popen_kwargs.setdefault("stdin", subprocess.DEVNULL)
        self.proc = subprocess.Popen(self.command(), **popen_kwargs)
        self.attach(self.proc.pid)
        return self.proc

    def attach(self, pid: int) -> None:
        """Remember the sandbox's first process, as a handle that never points at a later process with its pid.

        Pids are reused (32768 of them on many machines, and grading starts thousands of
        processes): killing "pid 1234" later could kill someone else.
        """
        import psutil

        self.pid = pid
        try:
            self._root = psutil.Process(pid)
        except psutil.Error:
            self._root = None

    def inner_pid(self) -> int | None:
        """The host pid of the sandbox's pid 1 (bwrap's init inside the new pid namespace)."""
        import psutil

        if self._root is None:
            return None
        try:
            proc = self._root
            for child in proc.children(recursive=True):
                if _ns_pid(child.pid) == 1:
                    return child.pid
        except psutil.Error:
            return None
        return None

    def processes(self) -> list:
        """Every process in the sandbox now (host view)."""
        import psutil

        found = {}
        if self.cgroups is not None and self.cgroups.limited:
            for pid in self.cgroups.pids():
                try:
                    found[pid] = psutil.Process(pid)
                except psutil.Error:
                    continue
        if self._root is not None:
            try:
                if self._root.is_running():          # false once the pid belongs to another process
                    found[self._root.pid] = self._root
                    for child in self._root.children(recursive=True):
                        found[child.pid] = child
            except psutil.Error:
                pass
        return list(found.values())

    def kill(self) -> None:
        """End the sandbox: its pid namespace dies with its first process, and everything in it."""
        import psutil

        procs = self.processes()
        for proc in procs:                   # freeze first, so nothing inside can start another
            try:
                proc.send_signal(signal.SIGSTOP)
            except psutil.Error:
                pass
        for proc in procs:
            try:
                proc.kill()
            except psutil.Error:
                pass
        if self.proc is not None:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            alive = [p for p in self.processes() if _alive(p)]
            if not alive:
                break
            for proc in alive:
                try:
                    proc.kill()
                except psutil.Error:
                    pass
            time.sleep(0.02)
        if self.cgroups is not None:
            self.cgroups.remove()
        shutil.rmtree(self.folder, ignore_errors=True)

    def process_limit_hits(self) -> int:
        return self.cgroups.process_limit_hits() if self.cgroups else 0


def _ns_pid(host_pid: int) -> int | None:
    try:
        with open(f"/proc/{host_pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return int(line.split()[-1])
    except (OSError, ValueError):
        pass
    return None


def _alive(proc) -> bool:
    import psutil

    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


# ----------------------------------------------------------------------------------
# the judge's stage in a sandbox

class Spare:
    """A stage sandbox started ahead of time: Python is up and the checks imported; it waits for ``address``."""

    def __init__(self, sandbox: Sandbox, folder: str, address: str):
        self.sandbox, self.folder, self.address = sandbox, folder, address

    def kill(self) -> None:
        self.sandbox.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


class SandboxLauncher:
    """Start a judge's stage in a fresh sandbox: the judge's socket folder is the only thing added (read-only)."""

    INSIDE = "/mpcourse-judge"

    def __init__(self, limits: Limits | None = None, kind: str | None = None, spare: Spare | None = None):
        self.limits = limits or Limits()
        self.kind = kind
        self.spare = spare

    def judge_address(self, folder: str) -> str:
        if self.spare is not None:
            return self.spare.address           # the spare stage is already waiting for this socket
        return os.path.join(folder, "j")

    def _sandbox(self, folder: str, address: str, wait: bool) -> Sandbox:
        from .judge import STAGE_COMMAND

        env = {"MPCOURSE_JUDGE": f"{self.INSIDE}/{os.path.basename(address)}"}
        if wait:
            env["MPCOURSE_STAGE_SPARE"] = "1"
        spec = Spec(read_only=[(folder, self.INSIDE)], limits=self.limits, env=env)
        return Sandbox([sys.executable, "-c", STAGE_COMMAND], spec, self.kind, name="stage")

    def start(self, folder: str, address: str) -> Sandbox:
        if self.spare is not None:
            return self.spare.sandbox
        sandbox = self._sandbox(folder, address, wait=False)
        sandbox.start(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return sandbox

    def start_spare(self) -> Spare:
        folder = tempfile.mkdtemp(prefix="mpcourse-spare-")
        address = os.path.join(folder, "j")
        sandbox = self._sandbox(folder, address, wait=True)
        sandbox.start(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return Spare(sandbox, folder, address)
