# expect: framing=fail
# why: packs the length little-endian ('<I'): a round trip works, the wire format is wrong
# %% framing
import struct


def _exactly(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return buf
        buf += chunk
    return buf


def send_msg(sock, data):
    sock.sendall(struct.pack("<I", len(data)) + data)


def recv_msg(sock):
    header = _exactly(sock, 4)
    if not header:
        return None
    if len(header) < 4:
        raise ConnectionError("closed in the header")
    (size,) = struct.unpack("<I", header)
    body = _exactly(sock, size)
    if len(body) < size:
        raise ConnectionError("closed in the message")
    return body
