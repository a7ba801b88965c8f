# expect: withdraw=fail
# why: acquire(False) fails whenever another process holds the lock, and the withdrawal is skipped
# mistake: withdraw/gives-up-waiting
# %% withdraw
def withdraw(lock, account, amount):
    if lock.acquire(False):
        try:
            account.set(account.get() - amount)
        finally:
            lock.release()
