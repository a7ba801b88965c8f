# expect: framing=fail serve=fail
# why: two independent mistakes: send() instead of sendall(), so on a socket with a timeout a big message is written only in part; serve returns right after starting the handlers, without waiting for them
# mistake: framing/partial-send serve/no-wait
# %% framing
import struct


def send_msg(sock, data):
    sock.send(struct.pack(">I", len(data)) + data)


def _exactly(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return buf
        buf += chunk
    return buf


def recv_msg(sock):
    header = _exactly(sock, 4)
    if not header:
        return None
    if len(header) < 4:
        raise ConnectionError("closed in the header")
    (size,) = struct.unpack(">I", header)
    body = _exactly(sock, size)
    if len(body) < size:
        raise ConnectionError("closed in the message")
    return body

# %% serve
import multiprocessing


def serve(listener, handler, n_clients):
    for _ in range(n_clients):
        conn, _ = listener.accept()
        multiprocessing.Process(target=handler, args=(conn,)).start()
        conn.close()
