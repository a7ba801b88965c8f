# expect: framing=fail
# why: (mutant found by scripts/mutation.py) the read loop asks recv() for `n + len(buf)` bytes instead of the `n - len(buf)` still missing: once part of a message has arrived, the rest of it and the next message arrive together and recv_msg swallows bytes of the next message
# mistake: framing/reads-past-message
# %% framing
import struct

HEADER = struct.Struct("!I")


def send_msg(sock, data):
    sock.sendall(HEADER.pack(len(data)) + data)


def recv_exactly(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n + len(buf))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def recv_msg(sock):
    header = recv_exactly(sock, HEADER.size)
    if not header:
        return None
    if len(header) < HEADER.size:
        raise ConnectionError("connection closed inside a message header")
    (length,) = HEADER.unpack(header)
    payload = recv_exactly(sock, length)
    if len(payload) < length:
        raise ConnectionError(f"connection closed after {len(payload)} of {length} bytes")
    return payload
