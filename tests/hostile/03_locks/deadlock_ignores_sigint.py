# expect: withdraw=zero book_ticket=pass transfer=pass
# why: the answer cell ignores SIGINT, then deadlocks the kernel itself (a lock taken twice): the interrupt cannot stop it, so the grader must restart the kernel
# %% withdraw
import signal
import threading


def withdraw(lock, account, amount):
    with lock:
        account.set(account.get() - amount)


signal.signal(signal.SIGINT, signal.SIG_IGN)
_stuck = threading.Lock()
_stuck.acquire()
_stuck.acquire()
