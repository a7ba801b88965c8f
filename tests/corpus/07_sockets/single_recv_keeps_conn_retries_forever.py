# expect: framing=fail serve=fail udp_request=fail
# why: three independent mistakes: recv_msg does one sock.recv(1024) and strips the header; serve never closes the parent's copy of each connection, so a finished client sees no EOF; udp_request resends after each timeout but never gives up
# mistake: framing/short-read serve/keeps-connection udp_request/retries-forever
# %% framing
import struct


def send_msg(sock, data):
    sock.sendall(struct.pack(">I", len(data)) + data)


def recv_msg(sock):
    data = sock.recv(1024)
    if not data:
        return None
    return data[4:]

# %% serve
from multiprocessing import Process


def serve(listener, handler, n_clients):
    workers = []
    for _ in range(n_clients):
        conn, _ = listener.accept()
        w = Process(target=handler, args=(conn,))
        w.start()
        workers.append(w)
    for w in workers:
        w.join()

# %% udp_request
import socket


def udp_request(addr, payload, timeout, retries):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        while True:
            s.sendto(payload, addr)
            try:
                return s.recvfrom(65535)[0]
            except socket.timeout:
                continue
