# expect: framing=fail serve=fail udp_request=fail
# why: three independent mistakes: recv_msg assumes recv(n) returns n bytes; serve calls handler(conn) itself, in its own process; udp_request sets the timeout but never resends, so the first lost datagram ends in TimeoutError
# mistake: framing/short-read serve/handler-in-parent udp_request/no-retry
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

# %% serve
def serve(listener, handler, n_clients):
    for _ in range(n_clients):
        conn, _ = listener.accept()
        with conn:
            handler(conn)

# %% udp_request
import socket


def udp_request(addr, payload, timeout, retries):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(payload, addr)
        data, _ = s.recvfrom(65535)
        return data
