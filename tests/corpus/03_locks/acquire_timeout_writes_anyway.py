# expect: withdraw=fail
# why: waits at most half a second for the lock, then withdraws without it: an update is lost whenever another process holds the lock longer
# mistake: withdraw/gives-up-waiting
# %% withdraw
def withdraw(lock, account, amount):
    got = lock.acquire(timeout=0.5)
    try:
        account.set(account.get() - amount)
    finally:
        if got:
            lock.release()
