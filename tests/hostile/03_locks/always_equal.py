# expect: withdraw=pass book_ticket=fail transfer=pass
# why: book_ticket does no locking and returns an object that equals anything (and is truthy): a check that compares with == would pass it
# %% book_ticket
class _Anything:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __bool__(self):
        return True

    __hash__ = object.__hash__


def book_ticket(lock, db, name):
    db.query()
    return _Anything()
