"""07_sockets: framing over real TCP with random splits, serve with real clients, udp_request against a lossy server."""
from __future__ import annotations

import multiprocessing
import os
import socket
import struct
import threading
import time

from . import Violation, local_random, oracle, pause

EXERCISES = ("framing", "serve", "udp_request")
SIZES = [0, 0, 1, 3, 4, 5, 100, 65_536, 1_500_000]


def _pair(timeout_a: float | None, timeout_b: float | None) -> tuple[socket.socket, socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        a = socket.create_connection(listener.getsockname())
        b, _addr = listener.accept()
    for s, t in ((a, timeout_a), (b, timeout_b)):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(t)
    return a, b


def _dribble(sock: socket.socket, data: bytes, style: str) -> None:
    """Send ``data`` split as ``style`` says (one byte at a time at first, random chunks, all at once), then close."""
    rng, i = local_random(), 0
    sock.settimeout(None)
    while i < len(data):
        if style == "whole":
            n = len(data)
        elif style == "bytes" and i < 64:
            n = 1
        else:
            n = rng.choice([1, 2, 3, 5, 7, 1000, 70_000])
        sock.sendall(data[i:i + n])
        i += n
        if rng.random() < 0.3:
            pause(0.003)
    sock.close()


@oracle("framing", timeout=20)
def framing_trial(student, rng) -> None:
    # receiving: the oracle writes the frames, split at random, and ends cleanly or inside a message
    sizes = [rng.choice(SIZES) for _ in range(rng.randint(0, 5))]
    messages = [bytes([rng.getrandbits(8)]) * s for s in sizes]
    end = rng.choice(["clean", "clean", "header", "payload"])
    stream = b"".join(struct.pack(">I", len(m)) + m for m in messages)
    if end == "header":
        stream += struct.pack(">I", 10)[:rng.randint(1, 3)]
    elif end == "payload":
        stream += struct.pack(">I", 10) + b"x" * rng.randint(0, 9)
    a, b = _pair(None, rng.choice([None, 5.0]))
    sender = threading.Thread(target=_dribble, args=(a, stream, rng.choice(["bytes", "random", "whole"])),
                              daemon=True)
    sender.start()
    setting = f"{len(messages)} messages of {sizes} bytes, then a close ({end}), receiver timeout {b.gettimeout()}"
    try:
        for k, m in enumerate(messages):
            got = student.recv_msg(b)
            if got != m:
                raise Violation("recv_msg returns the wrong bytes", f"{setting}: message {k + 1} came back as "
                                f"{len(got) if isinstance(got, (bytes, bytearray)) else got!r} bytes, "
                                f"expected {len(m)}")
        try:
            last = student.recv_msg(b)
        except ConnectionError:
            if end == "clean":
                raise Violation("recv_msg raises on a clean close", setting) from None
        else:
            if end != "clean":
                raise Violation("recv_msg does not raise on a close inside a message",
                                f"{setting}: returned {last!r}"[:300])
            if last is not None:
                raise Violation("recv_msg does not return None on a clean close", f"{setting}: {last!r}"[:300])
    finally:
        b.close()
        sender.join(5)
    # sending: the student's frames are read back in random pieces and parsed by the oracle
    big = [8_000_000] if rng.random() < 0.6 else []              # past Linux's 4 MiB socket buffer
    sizes = [rng.choice(SIZES) for _ in range(rng.randint(0, 5))] + big
    rng.shuffle(sizes)
    messages = [bytes([rng.getrandbits(8)]) * s for s in sizes]
    a, b = _pair(rng.choice([None, 5.0, 5.0]), None)
    chunks: list[bytes] = []
    reader = threading.Thread(target=_read_all, args=(b, chunks), daemon=True)
    reader.start()
    try:
        for m in messages:
            student.send_msg(a, m)
    finally:
        a.close()
    reader.join(10)
    data = b"".join(chunks)
    parsed, i = [], 0
    while i + 4 <= len(data):
        (n,) = struct.unpack(">I", data[i:i + 4])
        parsed.append(data[i + 4:i + 4 + n])
        i += 4 + n
    if parsed != messages or i != len(data):
        raise Violation("send_msg frames wrongly", f"{len(messages)} messages of {sizes} bytes became "
                        f"{len(data)} bytes that parse as {[len(p) for p in parsed]}")


def _read_all(sock: socket.socket, chunks: list) -> None:
    """Read everything in random pieces, starting late sometimes (a full send buffer: send() writes a part)."""
    rng = local_random()
    pause(0.2)
    while True:
        chunk = sock.recv(rng.choice([1, 3, 100, 65_536]))
        if not chunk:
            break
        chunks.append(chunk)
        if rng.random() < 0.05:
            pause(0.005)
    sock.close()


# ------------------------------------------------------------------ serve

_board = None


class _Board:
    def __init__(self, n: int):
        self.running = multiprocessing.RawValue("i", 0)
        self.most = multiprocessing.RawValue("i", 0)
        self.ended = multiprocessing.RawArray("d", n)
        self.pids = multiprocessing.RawArray("q", n)
        self.mutex = multiprocessing.Lock()
        self.n = n
        self.durations = [0.0] * n


def echo_handler(conn: socket.socket) -> None:
    """The handler handed in: wait (1.5 s at most) until every client is being served, echo the id, close."""
    board = _board
    with board.mutex:
        board.running.value += 1
        board.most.value = max(board.most.value, board.running.value)
    give_up = time.monotonic() + 1.5
    while board.most.value < board.n and time.monotonic() < give_up:
        time.sleep(0.002)
    conn.settimeout(5)
    data = b""
    while len(data) < 4:
        chunk = conn.recv(4 - len(data))
        if not chunk:
            break
        data += chunk
    (i,) = struct.unpack(">I", data)
    board.pids[i] = os.getpid()
    time.sleep(board.durations[i])
    conn.sendall(data)
    conn.close()
    with board.mutex:
        board.running.value -= 1
        board.ended[i] = time.monotonic()


def _client(address, i: int, out: dict) -> None:
    try:
        with socket.create_connection(address, timeout=8) as s:
            s.sendall(struct.pack(">I", i))
            reply = b""
            while len(reply) < 4:
                chunk = s.recv(4 - len(reply))
                if not chunk:
                    break
                reply += chunk
            rest = s.recv(1)                      # b"" once every copy of the server's end is closed
            out[i] = (reply == struct.pack(">I", i), rest == b"", time.monotonic())
    except OSError as exc:
        out[i] = (False, False, f"{type(exc).__name__}: {exc}")


@oracle("serve", timeout=25, leftovers=True)
def serve_trial(student, rng) -> None:
    global _board
    n = rng.randint(1, 4)
    _board = _Board(n)
    slow = rng.randrange(n)
    _board.durations = [1.5 if i == slow and n > 1 else rng.uniform(0, 0.2) for i in range(n)]
    listener = socket.create_server(("127.0.0.1", 0), backlog=8)
    out: dict = {}
    clients = [threading.Thread(target=_client, args=(listener.getsockname(), i, out), daemon=True)
               for i in range(n)]
    for c in clients:
        c.start()
    try:
        student.serve(listener, echo_handler, n)
        returned = time.monotonic()
    finally:
        listener.close()
    for c in clients:
        c.join(8)
    setting = f"{n} clients, client {slow} served for 1.5 s"
    if any(not _board.ended[i] or _board.ended[i] > returned for i in range(n)):
        raise Violation("returns before every handler finished", setting)
    if any(_board.pids[i] == os.getpid() for i in range(n)):
        raise Violation("runs a handler in the caller", setting)
    if _board.most.value < n:
        raise Violation("serves clients one at a time", f"{setting}: at most {_board.most.value} handlers at once")
    if len(out) != n or not all(ok for ok, _eof, _t in out.values()):
        raise Violation("a client got no reply", f"{setting}: {out}")
    for i, (_ok, eof, when) in out.items():
        if not eof:
            raise Violation("a client never saw the connection close", setting)
        if n > 1 and i != slow and when > _board.ended[slow] - 0.5:
            raise Violation("keeps the parent's copy of a connection", f"{setting}: client {i} saw EOF only "
                            f"{when - _board.ended[slow]:+.2f} s from the slow handler's end")


# ------------------------------------------------------------------ udp_request

def _lossy_server(sock: socket.socket, drop: int, reply: bytes, seen: list, stop: threading.Event) -> None:
    sock.settimeout(0.05)
    while not stop.is_set():
        try:
            data, sender = sock.recvfrom(65_535)
        except (TimeoutError, OSError):
            continue
        seen.append((time.monotonic(), data))
        if len(seen) > drop:
            sock.sendto(reply, sender)


@oracle("udp_request", timeout=15)
def udp_trial(student, rng) -> None:
    timeout, retries = rng.uniform(0.1, 0.3), rng.randint(0, 3)
    lost = rng.random() < 0.3
    drop = retries + 1 if lost else rng.randint(0, retries)
    payload = bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 1, 50, 1000])))
    reply = bytes([rng.getrandbits(8)]) * rng.choice([0, 1, 100, 5_000, 65_507])
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    seen: list = []
    stop = threading.Event()
    thread = threading.Thread(target=_lossy_server, args=(server, drop if not lost else 10**6, reply, seen, stop),
                              daemon=True)
    thread.start()
    setting = (f"timeout {timeout:.2f} s, {retries} retries, the server drops {'every' if lost else drop} "
               f"request(s), a reply of {len(reply)} bytes")
    began = time.monotonic()
    try:
        try:
            got = student.udp_request(server.getsockname(), payload, timeout, retries)
        except TimeoutError:
            if not lost:
                raise Violation("raises TimeoutError although a reply came", setting) from None
            took = time.monotonic() - began
            if len(seen) != retries + 1:
                raise Violation("wrong number of tries", f"{setting}: {len(seen)} datagrams, expected {retries + 1}")
            if took > (retries + 1) * timeout + 2:
                raise Violation("waits too long", f"{setting}: raised after {took:.1f} s")
            return
        if lost:
            raise Violation("returns without a reply", f"{setting}: returned {got!r}"[:200])
        if got != reply:
            raise Violation("wrong reply", f"{setting}: got {len(got) if isinstance(got, bytes) else got!r} bytes")
        if any(data != payload for _t, data in seen):
            raise Violation("sends the wrong payload", setting)
    finally:
        stop.set()
        thread.join(2)
        server.close()
