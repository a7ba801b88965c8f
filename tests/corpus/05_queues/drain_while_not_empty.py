# expect: drain=fail
# why: `while not q.empty()` stops as soon as the queue looks empty: a later item is missed
# mistake: drain/while-not-empty
# %% drain
def drain(q, timeout):
    items = []
    while not q.empty():
        items.append(q.get(timeout=timeout))
    return items
