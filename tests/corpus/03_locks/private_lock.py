# expect: withdraw=fail
# why: a new lock per call protects nothing
# mistake: withdraw/no-lock
# %% withdraw
from multiprocessing import Lock


def withdraw(lock, account, amount):
    with Lock():
        account.set(account.get() - amount)
