# expect: withdraw=fail book_ticket=pass transfer=pass
# why: a wrong withdraw whose cell puts a fake mpcourse.checks.locks in sys.modules (withdraw checks pass, the rest forwarded) and rebinds the notebook's `locks`
# %% withdraw
import sys
import types

_real = sys.modules["mpcourse.checks.locks"]
_fake = types.ModuleType("mpcourse.checks.locks")
for _name in dir(_real):
    setattr(_fake, _name, getattr(_real, _name))
    if _name.startswith("check_withdraw"):
        setattr(_fake, _name, lambda *args, **kwargs: None)
sys.modules["mpcourse.checks.locks"] = _fake
sys.modules["mpcourse.checks"].locks = _fake
from mpcourse.checks import locks  # noqa: E402


def withdraw(lock, account, amount):
    account.set(account.get() - amount)
