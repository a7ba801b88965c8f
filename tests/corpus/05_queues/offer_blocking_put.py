# expect: offer=zero
# why: q.put(item) blocks forever on a full queue
# mistake: offer/blocking-put
# %% offer
def offer(q, item):
    q.put(item)
    return True
