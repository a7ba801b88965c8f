# expect: framing=fail serve=fail udp_request=fail
# why: three independent mistakes: recv(n, MSG_WAITALL) without a loop (short on a socket with a timeout); handlers in threads, not processes; recvfrom(1024) cuts a big reply
# mistake: framing/short-read serve/handler-in-parent udp_request/truncated-reply
# %% framing
import socket
import struct


def send_msg(sock, data):
    sock.sendall(struct.pack(">I", len(data)) + data)


def recv_msg(sock):
    header = sock.recv(4, socket.MSG_WAITALL)       # "waits for all 4 bytes" (not with a timeout set)
    if not header:
        return None
    if len(header) < 4:
        raise ConnectionError("closed inside the header")
    (n,) = struct.unpack(">I", header)
    payload = sock.recv(n, socket.MSG_WAITALL) if n else b""
    if len(payload) < n:
        raise ConnectionError("closed inside the message")
    return payload

# %% serve
import threading


def serve(listener, handler, n_clients):
    workers = []
    for _ in range(n_clients):
        conn, _addr = listener.accept()
        t = threading.Thread(target=handler, args=(conn,))
        t.start()
        workers.append(t)
    for t in workers:
        t.join()

# %% udp_request
import socket


def udp_request(addr, payload, timeout, retries):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        for _ in range(1 + retries):
            sock.sendto(payload, addr)
            try:
                return sock.recvfrom(1024)[0]     # a bigger datagram is cut to 1024 bytes
            except socket.timeout:
                pass
    raise TimeoutError("no reply")
