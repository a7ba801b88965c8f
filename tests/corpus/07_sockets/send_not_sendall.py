# expect: framing=fail
# why: send() instead of sendall(): on a socket with a timeout a big message is written only in part
# %% framing
import struct


def send_msg(sock, data):
    sock.send(struct.pack(">I", len(data)) + data)


def _exactly(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return buf
        buf += chunk
    return buf


def recv_msg(sock):
    header = _exactly(sock, 4)
    if not header:
        return None
    if len(header) < 4:
        raise ConnectionError("closed in the header")
    (size,) = struct.unpack(">I", header)
    body = _exactly(sock, size)
    if len(body) < size:
        raise ConnectionError("closed in the message")
    return body
