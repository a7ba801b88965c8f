# expect: framing=fail serve=fail udp_request=fail
# why: three independent mistakes: an empty message comes back as None; serve accepts one connection too many and waits for it for ever; udp_request sends every try at once instead of after each timeout
# mistake: framing/empty-message serve/hangs udp_request/resends-too-soon
# %% framing
import struct


def send_msg(sock, data):
    sock.sendall(struct.pack(">I", len(data)) + data)


def _exactly(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def recv_msg(sock):
    header = _exactly(sock, 4)
    if not header:
        return None
    if len(header) < 4:
        raise ConnectionError("closed inside the header")
    (n,) = struct.unpack(">I", header)
    payload = _exactly(sock, n)
    if len(payload) < n:
        raise ConnectionError("closed inside the message")
    return payload or None         # b"" is a message, not the end

# %% serve
import multiprocessing


def serve(listener, handler, n_clients):
    workers = []
    for _ in range(n_clients + 1):             # one accept too many: blocks for ever
        conn, _addr = listener.accept()
        p = multiprocessing.Process(target=handler, args=(conn,))
        p.start()
        conn.close()
        workers.append(p)
    for p in workers:
        p.join()

# %% udp_request
import socket


def udp_request(addr, payload, timeout, retries):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _ in range(1 + retries):
            sock.sendto(payload, addr)           # all tries at once
        sock.settimeout(timeout * (1 + retries))
        try:
            return sock.recvfrom(65535)[0]
        except socket.timeout:
            raise TimeoutError("no reply") from None
