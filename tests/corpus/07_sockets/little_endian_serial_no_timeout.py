# expect: framing=fail serve=fail udp_request=fail
# why: three independent mistakes: the length is packed little-endian ('<I'), so a round trip works but the wire format is wrong; serve starts a handler and joins it before accepting the next client (one at a time); udp_request sends once and blocks in recvfrom with no timeout
# mistake: framing/little-endian serve/one-at-a-time udp_request/no-timeout
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

# %% serve
import multiprocessing


def serve(listener, handler, n_clients):
    for _ in range(n_clients):
        conn, addr = listener.accept()
        p = multiprocessing.Process(target=handler, args=(conn,))
        p.start()
        conn.close()
        p.join()

# %% udp_request
import socket


def udp_request(addr, payload, timeout, retries):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(payload, addr)
    data, server = s.recvfrom(65535)
    s.close()
    return data
