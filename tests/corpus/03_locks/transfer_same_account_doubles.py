# expect: transfer=fail
# why: takes one lock when src == dst but still moves the money, which changes the balance
# mistake: transfer/same-account-changed
# %% transfer
def transfer(locks, accounts, src, dst, amount):
    names = sorted({src, dst})
    for name in names:
        locks[name].acquire()
    try:
        accounts[src].set(accounts[src].get() - amount)
        accounts[dst].set(accounts[dst].get() + amount * 2 if src == dst else accounts[dst].get() + amount)
    finally:
        for name in reversed(names):
            locks[name].release()
