# expect: withdraw=zero book_ticket=pass transfer=pass
# why: the answer cell starts 200 sleeping processes in a loop (a slow fork bomb): the grader must stop it, grade the rest, and leave none of them
# %% withdraw
import multiprocessing
import time


def withdraw(lock, account, amount):
    pass


_crowd = []
for _ in range(200):
    _p = multiprocessing.Process(target=time.sleep, args=(1000,))
    _p.start()
    _crowd.append(_p)
