# expect: transfer=fail
# why: holds both locks in a safe order, but moves the money from dst to src
# mistake: transfer/wrong-amount
# %% transfer
def transfer(locks, accounts, src, dst, amount):
    if src == dst:
        return
    first, second = sorted((src, dst))
    with locks[first], locks[second]:
        accounts[src].set(accounts[src].get() + amount)
        accounts[dst].set(accounts[dst].get() - amount)
