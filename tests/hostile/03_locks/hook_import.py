# expect: withdraw=fail book_ticket=pass transfer=pass
# why: a wrong withdraw whose cell hooks builtins.__import__ so that every import of the checks gets a module whose withdraw checks always pass
# %% withdraw
import builtins
import types

_original_import = builtins.__import__


def _fake_of(module):
    fake = types.ModuleType(module.__name__)
    fake.__dict__.update(vars(module))
    for name in dir(module):
        if name.startswith("check_withdraw"):
            setattr(fake, name, lambda *args, **kwargs: None)
    return fake


def _hooked(name, globals=None, locals=None, fromlist=(), level=0):
    module = _original_import(name, globals, locals, fromlist, level)
    if name == "mpcourse.checks" and fromlist and "locks" in fromlist:
        fake = types.ModuleType(name)
        fake.__dict__.update(vars(module))
        fake.locks = _fake_of(module.locks)
        return fake
    return module


builtins.__import__ = _hooked
from mpcourse.checks import locks  # noqa: E402


def withdraw(lock, account, amount):
    account.set(account.get() - amount)
