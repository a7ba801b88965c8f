# expect: withdraw=fail
# why: no lock at all around the read-modify-write
# %% withdraw
def withdraw(lock, account, amount):
    current = account.get()
    account.set(current - amount)
