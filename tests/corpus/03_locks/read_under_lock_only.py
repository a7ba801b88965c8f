# expect: withdraw=fail
# why: the lock covers the read only; the write happens after release
# mistake: withdraw/partial-lock
# %% withdraw
def withdraw(lock, account, amount):
    lock.acquire()
    current = account.get()
    lock.release()
    account.set(current - amount)
