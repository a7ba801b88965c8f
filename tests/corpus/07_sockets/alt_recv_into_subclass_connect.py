# expect: framing=pass serve=pass udp_request=pass
# why: another style: recv_into a memoryview, a Process subclass per client, a connected UDP socket with select()
# %% framing
import struct


def send_msg(sock, data):
    header = struct.pack(">I", len(data))
    sock.sendall(header)
    sock.sendall(data)


def _fill(sock, n, inside):
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            if got == 0 and not inside:
                return None
            raise ConnectionError("peer closed mid-message")
        got += k
    return bytes(buf)


def recv_msg(sock):
    header = _fill(sock, 4, inside=False)
    if header is None:
        return None
    (n,) = struct.unpack(">I", header)
    return _fill(sock, n, inside=True) if n else b""

# %% serve
from multiprocessing import Process


class Session(Process):
    def __init__(self, handler, conn):
        super().__init__(daemon=False)
        self.handler = handler
        self.conn = conn

    def run(self):
        self.handler(self.conn)


def serve(listener, handler, n_clients):
    sessions = []
    while len(sessions) < n_clients:
        conn, _ = listener.accept()
        with conn:
            s = Session(handler, conn)
            s.start()
        sessions.append(s)
    for s in sessions:
        s.join()

# %% udp_request
import select
import socket


def udp_request(addr, payload, timeout, retries):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.connect(addr)
        for attempt in range(retries + 1):
            sock.send(payload)
            ready, _, _ = select.select([sock], [], [], timeout)
            if ready:
                return sock.recv(65535)
        raise TimeoutError("no answer")
    finally:
        sock.close()
