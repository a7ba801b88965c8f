# expect: withdraw=fail book_ticket=pass transfer=pass
# why: a wrong withdraw (no lock) whose cell replaces the withdraw checks in mpcourse.checks.locks with functions that always pass
# %% withdraw
import mpcourse.checks.locks as _checks


def withdraw(lock, account, amount):
    account.set(account.get() - amount)


for _name in dir(_checks):
    if _name.startswith("check_withdraw"):
        setattr(_checks, _name, lambda *args, **kwargs: None)
