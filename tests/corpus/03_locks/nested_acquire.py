# expect: withdraw=fail
# why: double acquire of a non-reentrant lock deadlocks at once
# mistake: withdraw/double-acquire
# %% withdraw
def withdraw(lock, account, amount):
    with lock:
        lock.acquire()
        account.set(account.get() - amount)
        lock.release()
