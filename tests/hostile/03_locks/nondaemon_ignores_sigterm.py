# expect: withdraw=pass book_ticket=pass transfer=pass
# why: a correct answer cell that also starts a non-daemon child that ignores SIGTERM and never ends: grading must finish and kill it
# %% withdraw
import multiprocessing
import signal
import time


def _immortal():
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        time.sleep(1)


def withdraw(lock, account, amount):
    with lock:
        account.set(account.get() - amount)


_keeper = multiprocessing.Process(target=_immortal, name="immortal")
_keeper.start()
