# expect: framing=fail
# why: recv_msg does one sock.recv(1024) and strips the header: breaks on split streams, big messages, two in a segment
# %% framing
import struct


def send_msg(sock, data):
    sock.sendall(struct.pack(">I", len(data)) + data)


def recv_msg(sock):
    data = sock.recv(1024)
    if not data:
        return None
    return data[4:]
