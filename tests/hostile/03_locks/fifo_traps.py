# expect: withdraw=zero
# why: plants FIFOs and symlinks named like hand-over and verdict files wherever it can write (a grader that opens one blocks forever, or reads a file it should not), and emits hand-over outputs that point at them
# %% withdraw
import glob
import os

from IPython.display import display

_targets = {".", "/tmp", os.environ.get("MPCOURSE_GRADING_DIR", ".")}
_targets |= set(glob.glob("/tmp/mpcourse*")) | set(glob.glob("/mpcourse*"))
for _folder in _targets:
    for _name in ("0.json", "1.json", "verdict.json", "0.objects", "result.json"):
        _path = os.path.join(_folder, _name)
        try:
            os.mkfifo(_path)
        except OSError:
            pass
        try:
            os.symlink("/etc/shadow", _path + ".link")
        except OSError:
            pass
display({"application/vnd.mpcourse.handover+json": {"module": "mpcourse.checks.locks", "check": "/tmp/0.json",
                                                     "name": "x" * 10_000, "blob": 12}}, raw=True)


def withdraw(lock, account, amount):
    pass
