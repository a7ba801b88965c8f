# expect: withdraw=zero
# why: a real fork bomb (every process forks for ever): the sandbox's process limit stops it, the grader restarts Python, grades the rest, and nothing survives
# %% withdraw
import os


def withdraw(lock, account, amount):
    pass


while True:
    try:
        os.fork()
    except OSError:
        pass
