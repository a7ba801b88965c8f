# expect: withdraw=fail
# why: a new lock per call protects nothing
# %% withdraw
from multiprocessing import Lock


def withdraw(lock, account, amount):
    with Lock():
        account.set(account.get() - amount)
