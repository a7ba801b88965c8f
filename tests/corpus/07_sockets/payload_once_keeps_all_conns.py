# expect: framing=fail serve=fail
# why: two independent mistakes: recv_msg loops for the header but reads the payload with one recv(length), so big messages come back short; serve keeps every accepted connection in a list and closes them only after joining
# mistake: framing/short-read serve/keeps-connection
# %% framing
import struct


def send_msg(sock, data):
    sock.sendall(struct.pack(">I", len(data)) + data)


def recv_msg(sock):
    header = b""
    while len(header) < 4:
        chunk = sock.recv(4 - len(header))
        if not chunk:
            if header:
                raise ConnectionError("closed inside the header")
            return None
        header += chunk
    (length,) = struct.unpack(">I", header)
    payload = sock.recv(length)
    if len(payload) < length and not payload:
        raise ConnectionError("closed inside the message")
    return payload

# %% serve
import multiprocessing


def serve(listener, handler, n_clients):
    conns, workers = [], []
    for _ in range(n_clients):
        conn, _ = listener.accept()
        conns.append(conn)
        w = multiprocessing.Process(target=handler, args=(conn,))
        w.start()
        workers.append(w)
    for w in workers:
        w.join()
    for c in conns:
        c.close()
