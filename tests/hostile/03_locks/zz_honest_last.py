# why: an honest student graded AFTER the attackers (ids sort last): their grades must be exactly those of a run without attackers. HONEST-MARKER-9c1e
# %% withdraw
def withdraw(lock, account, amount):
    # HONEST-MARKER-9c1e: no attacker may ever print this line
    with lock:
        account.set(account.get() - amount)
