# expect: withdraw=fail
# why: gives up quietly when the lock is not free within a second: the withdrawal is simply lost
# mistake: withdraw/gives-up-waiting
# %% withdraw
def withdraw(lock, account, amount):
    if not lock.acquire(timeout=1):
        return
    try:
        account.set(account.get() - amount)
    finally:
        lock.release()
