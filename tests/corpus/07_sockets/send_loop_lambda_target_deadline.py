# expect: framing=pass serve=pass udp_request=pass
# why: correct, unusual styles: send() in a loop over a memoryview and recv(n, MSG_WAITALL) in a loop with a cell-level struct; a lambda target that captures the connection and a cell-level Value counting handlers; a deadline loop that ignores stray datagrams
# %% framing
import socket
import struct

PREFIX = struct.Struct("!I")


def send_msg(sock, data):
    view = memoryview(PREFIX.pack(len(data)) + data)
    while view:
        sent = sock.send(view)     # may be fewer bytes than asked: go on from there
        view = view[sent:]


def _read(sock, n):
    parts, got = [], 0
    while got < n:
        chunk = sock.recv(n - got, socket.MSG_WAITALL)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def recv_msg(sock):
    header = _read(sock, PREFIX.size)
    if not header:
        return None
    if len(header) < PREFIX.size:
        raise ConnectionError("cut inside the header")
    (n,) = PREFIX.unpack(header)
    body = _read(sock, n)
    if len(body) < n:
        raise ConnectionError("cut inside the message")
    return body

# %% serve
import multiprocessing

HANDLERS_STARTED = multiprocessing.Value("i", 0)


def serve(listener, handler, n_clients):
    def run(conn):
        with HANDLERS_STARTED.get_lock():
            HANDLERS_STARTED.value += 1
        handler(conn)

    workers = []
    for _ in range(n_clients):
        conn, _addr = listener.accept()
        worker = multiprocessing.Process(target=lambda c=conn: run(c))
        worker.start()
        conn.close()
        workers.append(worker)
    for worker in workers:
        worker.join()

# %% udp_request
import socket
import time


def udp_request(addr, payload, timeout, retries):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _ in range(1 + retries):
            sock.sendto(payload, addr)
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                try:
                    data, sender = sock.recvfrom(65535)
                except socket.timeout:
                    break
                if sender == tuple(addr):          # a stray datagram does not restart the wait
                    return data
    raise TimeoutError(f"no reply from {addr}")
