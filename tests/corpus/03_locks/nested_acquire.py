# expect: withdraw=fail
# why: double acquire of a non-reentrant lock deadlocks at once
# %% withdraw
def withdraw(lock, account, amount):
    with lock:
        lock.acquire()
        account.set(account.get() - amount)
        lock.release()
