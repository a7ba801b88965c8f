# why: a correct but unusual style: an ExitStack that enters the locks of the distinct accounts, sorted
# %% transfer
import contextlib


def transfer(locks, accounts, src, dst, amount):
    with contextlib.ExitStack() as stack:
        for name in sorted({src, dst}):
            stack.enter_context(locks[name])
        if src != dst:
            accounts[src].set(accounts[src].get() - amount)
            accounts[dst].set(accounts[dst].get() + amount)
