# expect: drain=fail
# why: stops on qsize() == 0, the same mistake as empty()
# mistake: drain/while-not-empty
# %% drain
def drain(q, timeout):
    items = []
    while q.qsize() > 0:
        items.append(q.get())
    return items
