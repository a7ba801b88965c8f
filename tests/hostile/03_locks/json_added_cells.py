# expect: withdraw=zero book_ticket=zero transfer=zero
# why: 30 cells added to the notebook's JSON after the answer, each sleeping just under the cell limit, and one that kills the kernel so that the earlier ones are replayed: without a budget for the whole notebook, one submission takes minutes; with it, the notebook stops at its budget and the cells after that fail
# %% withdraw
def withdraw(lock, account, amount):
    pass
# %% +withdraw
import time
time.sleep(3.5)
# %% +withdraw
import time
time.sleep(3.5)
# %% +withdraw
import time
time.sleep(3.5)
# %% +withdraw
import time
time.sleep(3.5)
# %% +withdraw
import time
time.sleep(3.5)
# %% +withdraw
import time
time.sleep(3.5)
# %% +withdraw
import time
time.sleep(3.5)
# %% +withdraw
import time
time.sleep(3.5)
# %% +withdraw
import time
time.sleep(3.5)
# %% +withdraw
import time
time.sleep(3.5)
# %% +withdraw
import time
time.sleep(3.5)
# %% +withdraw
import os
os._exit(1)
# %% +withdraw
import time
time.sleep(3.5)
# %% +withdraw
import time
time.sleep(3.5)
# %% +withdraw
import time
time.sleep(3.5)
# %% +withdraw
import time
time.sleep(3.5)
# %% +withdraw
import time
time.sleep(3.5)
# %% +withdraw
import time
time.sleep(3.5)
# %% +withdraw
import time
time.sleep(3.5)
# %% +withdraw
import time
time.sleep(3.5)
# %% +withdraw
import time
time.sleep(3.5)
# %% +withdraw
import time
time.sleep(3.5)
# %% +withdraw
import time
time.sleep(3.5)
# %% +withdraw
import time
time.sleep(3.5)
# %% +withdraw
import time
time.sleep(3.5)
# %% +withdraw
import time
time.sleep(3.5)
# %% +withdraw
import time
time.sleep(3.5)
# %% +withdraw
import time
time.sleep(3.5)
# %% +withdraw
import time
time.sleep(3.5)
# %% +withdraw
import time
time.sleep(3.5)
# %% +withdraw
import time
time.sleep(3.5)
