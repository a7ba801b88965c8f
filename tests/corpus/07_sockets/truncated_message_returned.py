# expect: framing=fail
# why: a message cut short by a close is returned as it is instead of raising ConnectionError
# mistake: framing/cut-not-error
# %% framing
import struct


def send_msg(sock, data):
    sock.sendall(struct.pack(">I", len(data)) + data)


def _exactly(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def recv_msg(sock):
    header = _exactly(sock, 4)
    if len(header) < 4:
        return None
    (n,) = struct.unpack(">I", header)
    return _exactly(sock, n)
