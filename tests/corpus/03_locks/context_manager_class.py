# why: a correct but unusual style: a small context-manager class of the student's own that wraps the lock
# %% withdraw
class Holding:
    def __init__(self, lock):
        self.lock = lock

    def __enter__(self):
        self.lock.acquire()
        return self

    def __exit__(self, *exc):
        self.lock.release()
        return False


def withdraw(lock, account, amount):
    with Holding(lock):
        account.set(account.get() - amount)
