# expect: withdraw=zero
# why: fills memory across four children (3.3 GiB together) and writes a 1.5 GB file in its working folder
# %% withdraw
import multiprocessing


def _hog(megabytes):
    blocks = []
    for _ in range(megabytes):
        blocks.append(bytearray(2**20))
    import time
    time.sleep(30)


_hogs = [multiprocessing.Process(target=_hog, args=(850,)) for _ in range(4)]
for _p in _hogs:
    _p.start()
try:
    with open("big.bin", "wb") as _f:
        for _ in range(1500):
            _f.write(b"\0" * 2**20)
except OSError:
    pass


def withdraw(lock, account, amount):
    pass
