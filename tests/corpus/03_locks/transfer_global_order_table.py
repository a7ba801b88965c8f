# why: a correct but unusual style: a cell-level ranking function decides the lock order; explicit acquire/release
# %% transfer
def rank(name):
    return (len(name), name)


def transfer(locks, accounts, src, dst, amount):
    if src == dst:
        return
    order = sorted((src, dst), key=rank)
    locks[order[0]].acquire()
    locks[order[1]].acquire()
    try:
        a, b = accounts[src].get(), accounts[dst].get()
        accounts[src].set(a - amount)
        accounts[dst].set(b + amount)
    finally:
        locks[order[1]].release()
        locks[order[0]].release()
