# expect: withdraw=pass book_ticket=pass transfer=pass
# why: the answer cell prints a megabyte, and withdraw prints 100 kB each call: grading is unaffected and the stored output is capped
# %% withdraw
def withdraw(lock, account, amount):
    print("w" * 100_000)
    with lock:
        account.set(account.get() - amount)


for _ in range(1024):
    print("x" * 1023)
