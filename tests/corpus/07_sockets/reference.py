# The model answers of 07_sockets (every exercise must earn full marks).
# %% framing
import struct

HEADER = struct.Struct("!I")       # 4-byte unsigned length, network (big-endian) order


def send_msg(sock, data):
    sock.sendall(HEADER.pack(len(data)) + data)


def recv_exactly(sock, n):
    """n bytes, or fewer only if the peer closed first (recv may return 1..n bytes)."""
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:              # b"": the peer has closed
            break
        buf += chunk
    return bytes(buf)


def recv_msg(sock):
    header = recv_exactly(sock, HEADER.size)
    if not header:
        return None                # clean close between two messages
    if len(header) < HEADER.size:
        raise ConnectionError("connection closed inside a message header")
    (length,) = HEADER.unpack(header)
    payload = recv_exactly(sock, length)
    if len(payload) < length:
        raise ConnectionError(f"connection closed after {len(payload)} of {length} bytes")
    return payload

# %% serve
import multiprocessing


def serve(listener, handler, n_clients):
    workers = []
    for _ in range(n_clients):
        conn, _addr = listener.accept()
        p = multiprocessing.Process(target=handler, args=(conn,))
        p.start()
        conn.close()               # the child has its own copy now
        workers.append(p)
    for p in workers:
        p.join()

# %% udp_request
import socket


def udp_request(addr, payload, timeout, retries):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        for _ in range(1 + retries):
            sock.sendto(payload, addr)
            try:
                reply, _sender = sock.recvfrom(65535)
                return reply
            except socket.timeout:     # lost request or lost reply: send again
                pass
    raise TimeoutError(f"no reply from {addr} after {1 + retries} tries")
