# expect: framing=fail
# why: the read loops never check for b"": a close inside a message makes recv_msg spin for ever
# mistake: framing/spins-on-close
# %% framing
import struct


def send_msg(sock, data):
    sock.sendall(struct.pack(">I", len(data)) + data)


def recv_msg(sock):
    header = sock.recv(4)
    if not header:
        return None
    while len(header) < 4:
        header += sock.recv(4 - len(header))
    (n,) = struct.unpack(">I", header)
    payload = b""
    while len(payload) < n:
        payload += sock.recv(n - len(payload))
    return payload
