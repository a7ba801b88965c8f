# expect: withdraw=fail
# why: acquire/release without try/finally: an exception in get() leaves the lock held
# mistake: withdraw/no-release-on-error
# %% withdraw
def withdraw(lock, account, amount):
    lock.acquire()
    account.set(account.get() - amount)
    lock.release()
