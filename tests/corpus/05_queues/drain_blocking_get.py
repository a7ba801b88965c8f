# expect: drain=zero
# why: q.get() without a timeout hangs forever on an empty queue
# mistake: drain/blocking-get
# %% drain
def drain(q, timeout):
    items = []
    while True:
        items.append(q.get())
        if q.empty():
            items.append(q.get())
