# expect: withdraw=zero book_ticket=pass transfer=pass
# why: the answer cell defines a correct withdraw, then kills the kernel with os._exit(): the notebook must still be graded, with withdraw lost
# %% withdraw
import os


def withdraw(lock, account, amount):
    with lock:
        account.set(account.get() - amount)


os._exit(0)
