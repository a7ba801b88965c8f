# expect: framing=fail serve=fail udp_request=fail
# why: three independent mistakes: recv_msg reads 4096 bytes at a time and drops what belongs to the next message; serve joins every handler but the last; udp_request tries `retries` times instead of 1 + retries
# mistake: framing/reads-past-message serve/no-wait udp_request/too-few-tries
# %% framing
import struct


def send_msg(sock, data):
    sock.sendall(struct.pack(">I", len(data)) + data)


def recv_msg(sock):
    buf = b""
    while len(buf) < 4:
        chunk = sock.recv(4096)
        if not chunk:
            if buf:
                raise ConnectionError("closed inside the header")
            return None
        buf += chunk
    (n,) = struct.unpack(">I", buf[:4])
    while len(buf) < 4 + n:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed inside the message")
        buf += chunk
    return buf[4:4 + n]            # anything after it is lost

# %% serve
import multiprocessing


def serve(listener, handler, n_clients):
    workers = []
    for _ in range(n_clients):
        conn, _addr = listener.accept()
        p = multiprocessing.Process(target=handler, args=(conn,))
        p.start()
        conn.close()
        workers.append(p)
    for p in workers[:-1]:         # off by one: the last handler is never waited for
        p.join()

# %% udp_request
import socket


def udp_request(addr, payload, timeout, retries):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        for _ in range(retries):   # one try too few
            sock.sendto(payload, addr)
            try:
                return sock.recvfrom(65535)[0]
            except socket.timeout:
                pass
    raise TimeoutError("no reply")
