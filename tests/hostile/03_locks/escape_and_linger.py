# expect: withdraw=zero
# why: leaves everything behind it can: a pid-hopping chain in a new session (a process that forks and exits, again and again), 250 unreaped zombies, 250 threads, and a sleeper with an empty environment
# %% withdraw
import os
import subprocess
import threading
import time


def _hop():
    if os.fork() == 0:
        os.setsid()
        while True:
            if os.fork():
                os._exit(0)
            time.sleep(0.05)


def _zombies(n):
    if os.fork() == 0:
        for _ in range(n):
            if os.fork() == 0:
                os._exit(0)
        time.sleep(10_000)


_hop()
_zombies(250)
for _ in range(250):
    threading.Thread(target=time.sleep, args=(10_000,), daemon=True).start()
subprocess.Popen(["sleep", "10000"], start_new_session=True, env={})


def withdraw(lock, account, amount):
    pass
