# expect: framing=fail
# why: loops for the header but reads the payload with one recv(length): big messages come back short
# %% framing
import struct


def send_msg(sock, data):
    sock.sendall(struct.pack(">I", len(data)) + data)


def recv_msg(sock):
    header = b""
    while len(header) < 4:
        chunk = sock.recv(4 - len(header))
        if not chunk:
            if header:
                raise ConnectionError("closed inside the header")
            return None
        header += chunk
    (length,) = struct.unpack(">I", header)
    payload = sock.recv(length)
    if len(payload) < length and not payload:
        raise ConnectionError("closed inside the message")
    return payload
