# expect: withdraw=fail
# why: no lock at all around the read-modify-write
# mistake: withdraw/no-lock
# %% withdraw
def withdraw(lock, account, amount):
    current = account.get()
    account.set(current - amount)
