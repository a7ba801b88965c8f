# expect: withdraw=zero
# why: writes a .pth into every site-packages it can find, appends "every check passes" to the installed mpcourse/checks/__init__.py, and plants a shadow ./mpcourse package in its working folder, so that later judges would say "passed"
# %% withdraw
import os
import site
import sys

_evil = "import mpcourse.checks as _c; _c.failed = lambda *a, **k: _c.passed('forged')\n"
_places = set(site.getsitepackages()) | {p for p in sys.path if p.endswith("site-packages")}
for _place in _places:
    try:
        with open(os.path.join(_place, "zz_mpcourse_forged.pth"), "w") as _f:
            _f.write("import os; os.environ['MPCOURSE_FORGED'] = '1'\n")
    except OSError:
        pass
try:
    import mpcourse.checks as _checks
    with open(_checks.__file__, "a") as _f:
        _f.write("\n" + _evil)
except OSError:
    pass
try:
    os.makedirs("mpcourse/checks", exist_ok=True)
    with open("mpcourse/__init__.py", "w") as _f:
        _f.write("")
    with open("mpcourse/checks/__init__.py", "w") as _f:
        _f.write("def __getattr__(name):\n    return lambda *a, **k: None\n")
except OSError:
    pass


def withdraw(lock, account, amount):
    pass
