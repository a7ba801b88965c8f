# expect: transfer=fail
# why: sorted lock order but no src == dst case: takes the same lock twice
# mistake: transfer/same-account-deadlock
# %% transfer
def transfer(locks, accounts, src, dst, amount):
    a, b = sorted([src, dst])
    with locks[a]:
        with locks[b]:
            accounts[src].set(accounts[src].get() - amount)
            accounts[dst].set(accounts[dst].get() + amount)
