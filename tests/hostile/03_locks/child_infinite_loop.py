# expect: withdraw=zero book_ticket=pass transfer=pass
# why: withdraw starts a child that loops forever and joins it: every withdraw check must hit its deadline, the others are graded normally
# %% withdraw
import multiprocessing


def _spin():
    while True:
        pass


def withdraw(lock, account, amount):
    child = multiprocessing.Process(target=_spin)
    child.start()
    child.join()
