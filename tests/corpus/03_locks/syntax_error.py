# expect: withdraw=zero
# why: Python 2 print statement: the cell does not compile
# %% withdraw
def withdraw(lock, account, amount):
    with lock:
        account.set(account.get() - amount)
    print "done"
