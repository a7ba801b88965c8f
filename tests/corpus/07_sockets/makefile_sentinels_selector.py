# expect: framing=pass serve=pass udp_request=pass
# why: correct, unusual structures: recv_msg over an unbuffered makefile() with its own loop; serve waits on the handlers' sentinels in whatever order they end (get_context, kwargs, `with conn:`); udp_request with selectors on a connected non-blocking socket
# %% framing
import struct


def send_msg(sock, data):
    sock.sendall(len(data).to_bytes(4, "big"))
    sock.sendall(data)


def recv_msg(sock):
    raw = sock.makefile("rb", buffering=0)      # a raw reader: read(n) returns 0..n bytes, no read-ahead
    try:
        def exactly(n):
            out = bytearray()
            while len(out) < n:
                chunk = raw.read(n - len(out))
                if not chunk:
                    return bytes(out)
                out += chunk
            return bytes(out)

        header = exactly(4)
        if not header:
            return None
        if len(header) < 4:
            raise ConnectionError("cut inside the header")
        (n,) = struct.unpack(">I", header)
        body = exactly(n)
        if len(body) < n:
            raise ConnectionError("cut inside the message")
        return body
    finally:
        raw.close()                # closes the file object only, not the socket

# %% serve
import multiprocessing
from multiprocessing.connection import wait


def serve(listener, handler, n_clients):
    ctx = multiprocessing.get_context()
    running = {}
    for _ in range(n_clients):
        conn, _addr = listener.accept()
        with conn:                 # the parent's copy is closed as soon as the handler has its own
            worker = ctx.Process(target=handler, kwargs={"conn": conn}, daemon=False)
            worker.start()
        running[worker.sentinel] = worker
    while running:                 # wait for whichever handler ends next, in any order
        for sentinel in wait(list(running)):
            running.pop(sentinel).join()

# %% udp_request
import selectors
import socket


def udp_request(addr, payload, timeout, retries):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.connect(addr)
    with sock, selectors.DefaultSelector() as sel:
        sel.register(sock, selectors.EVENT_READ)
        for _ in range(retries + 1):
            sock.send(payload)
            if sel.select(timeout):
                return sock.recv(65535)
    raise TimeoutError("no reply")
