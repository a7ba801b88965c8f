# expect: withdraw=fail book_ticket=pass transfer=pass
# why: a wrong withdraw whose cell silences tracebacks (sys.excepthook, IPython's showtraceback) and makes the kernel report every cell as successful
# %% withdraw
import sys

from IPython import get_ipython

_ip = get_ipython()
_ip.showtraceback = lambda *args, **kwargs: None
_ip.showsyntaxerror = lambda *args, **kwargs: None
sys.excepthook = lambda *args: None
_run_cell_async = _ip.run_cell_async


async def _never_fails(*args, **kwargs):
    result = await _run_cell_async(*args, **kwargs)
    result.error_in_exec = None
    result.error_before_exec = None
    return result


_ip.run_cell_async = _never_fails


def withdraw(lock, account, amount):
    account.set(account.get() - amount)
