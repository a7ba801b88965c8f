# expect: framing=fail
# why: assumes recv(n) returns n bytes: recv(4) for the header, recv(length) for the payload
# %% framing
import struct


def send_msg(sock, data):
    sock.sendall(struct.pack(">I", len(data)) + data)


def recv_msg(sock):
    header = sock.recv(4)
    if not header:
        return None
    if len(header) < 4:
        raise ConnectionError("closed inside the header")
    (length,) = struct.unpack(">I", header)
    return sock.recv(length)
