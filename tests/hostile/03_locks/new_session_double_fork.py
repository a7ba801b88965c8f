# expect: withdraw=pass book_ticket=pass transfer=pass
# why: the answer cell double-forks a daemon into a new session with an empty environment (no grading tag, not in the kernel's process group), and starts `sleep` with start_new_session: nothing may survive grading
# %% withdraw
import os
import subprocess


def withdraw(lock, account, amount):
    with lock:
        account.set(account.get() - amount)


def _escape():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execve("/bin/sleep", ["sleep", "1000"], {})      # no environment: no tag
        os._exit(0)


_escape()
_sleeper = subprocess.Popen(["sleep", "1001"], start_new_session=True, env={})
