# why: a correct but unusual style: retries a short acquire(timeout) until it gets the lock, with a helper defined in the cell
# %% withdraw
def _take(lock):
    while not lock.acquire(timeout=0.2):
        pass


def withdraw(lock, account, amount):
    _take(lock)
    try:
        balance = account.get()
        account.set(balance - amount)
    finally:
        lock.release()
