# why: an honest student graded BEFORE the attackers (ids sort first): their grades must be exactly those of a run without attackers. HONEST-MARKER-7f3a
# %% withdraw
def withdraw(lock, account, amount):
    # HONEST-MARKER-7f3a: no attacker may ever print this line
    with lock:
        account.set(account.get() - amount)
