# expect: offer=fail
# why: `if q.full()` then a blocking put: another process fills the last place in between and the put blocks
# mistake: offer/check-then-put
# %% offer
def offer(q, item):
    if q.full():
        return False
    q.put(item)
    return True
