"""Checks for assignment 07_sockets: framing (send_msg, recv_msg), serve, udp_request.

The grader plays the other end of every connection, so the awkward cases happen every time:

* ``recv_msg`` reads from a socket pair whose far end the judge drives: the stream
  arrives one byte at a time (the next byte is sent only once the previous one has been
  read, so no ``recv`` can ever return more than one byte), two messages arrive in one
  segment, a 200 000-byte message arrives in pieces, the peer closes between messages
  and inside one. ``send_msg`` is judged by the raw bytes that arrive (its socket has a
  timeout, so a plain ``send()`` writes only part of a big message).
* ``serve`` gets a handler of this module that records its span on a Timeline and waits
  at a rendezvous for another handler: a server that serves one client at a time leaves
  each handler alone there. One client's handler finishes early while another is still
  being served, and that client must then see EOF: only if the parent closed its copy of
  the connection (the connection accepted last is the one tested, so a copy that the
  garbage collector happens to close cannot hide the mistake).
* ``udp_request`` talks to a test server of this module that drops the first
  datagram(s) on purpose, and to a socket that never answers.

Student code runs in threads of the judge with their own deadlines, so a call that
blocks or spins for ever becomes one plain sentence.
"""
from __future__ import annotations

import copyreg
import multiprocessing
import os
import shutil
import socket
import struct
import tempfile
import time

from ..timeline import Timeline
from . import Verdict, check, failed, passed
from .producer_consumer import Background, call_in_thread, wait_for_no_descendants, watch_processes

HEADER = struct.Struct(">I")
LOCALHOST = "127.0.0.1"
PATIENCE = 4.0                 # how long a handler waits at the rendezvous for another one


def _reduce_struct(s: struct.Struct):
    return struct.Struct, (s.format,)


# A cell that keeps ``HEADER = struct.Struct("!I")`` as a global is a good answer, but
# struct.Struct does not pickle, and under spawn/forkserver the answer travels to the
# check's process by value (cloudpickle consults copyreg too).
copyreg.pickle(struct.Struct, _reduce_struct)


def frame(data: bytes) -> bytes:
    return HEADER.pack(len(data)) + data


def _short(data, limit: int = 40) -> str:
    text = repr(data)
    return text if len(text) <= limit else text[:limit] + "...'"


def _describe(value) -> str:
    if isinstance(value, (bytes, bytearray)) and len(value) > 40:
        return f"{len(value)} bytes starting {_short(bytes(value[:12]))}"
    return _short(value, 60)


# --------------------------------------------------------------------------------------
# the judge's end of a stream

def pending(sock: socket.socket) -> int:
    """Bytes waiting in ``sock``'s receive buffer (-1 if the platform cannot say)."""
    try:
        import array
        import fcntl
        import termios

        buf = array.array("i", [0])
        fcntl.ioctl(sock.fileno(), termios.FIONREAD, buf)
        return buf[0]
    except (ImportError, OSError):
        return -1


def wait_until_read(reader: socket.socket, patience: float = 1.0) -> None:
    """Wait until the reader has taken everything sent so far (or patience runs out)."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        left = pending(reader)
        if left == 0:
            return
        if left < 0:
            time.sleep(0.005)
            return
        time.sleep(0.0005)


def trickle(peer: socket.socket, reader: socket.socket, pieces: list[bytes]) -> None:
    """Send each piece only once the reader has read everything before it."""
    try:
        for piece in pieces:
            peer.sendall(piece)
            wait_until_read(reader)
            time.sleep(0.001)
    except OSError:
        pass


def one_byte_pieces(data: bytes) -> list[bytes]:
    return [data[i:i + 1] for i in range(len(data))]


# --------------------------------------------------------------------------------------
# framing

@check(timeout=15, label="send_msg")
def check_framing_round_trip(send_msg, recv_msg) -> Verdict:
    """send_msg on one end, recv_msg on the other: two messages, then a clean close."""
    a, b = socket.socketpair()
    with a, b:
        for data in (b"hello", b"world!!"):
            out = call_in_thread(send_msg, a, data, timeout=3)
            if out.status == "raised":
                return failed(f"send_msg(sock, {data!r}) raised {out.describe_error()}.")
            if out.status == "hung":
                return failed(f"send_msg(sock, {data!r}) did not return within 3 s.")
        a.close()
        for data in (b"hello", b"world!!", None):
            try:
                out = call_in_thread(recv_msg, b, timeout=3)
            except NotImplementedError:
                return failed("`recv_msg` is not written yet (it raises NotImplementedError).")
            what = "after the sender closed" if data is None else f"for the message {data!r}"
            if out.status == "raised":
                return failed(f"recv_msg raised {out.describe_error()} {what}.")
            if out.status == "hung":
                return failed(f"recv_msg did not return within 3 s {what}.")
            if out.value != data:
                return failed(f"recv_msg returned {_describe(out.value)} {what}, expected {data!r}.")
    return passed()


@check(timeout=15, label="send_msg")
def check_send_msg_wire_format(send_msg) -> Verdict:
    """The raw bytes: a 4-byte big-endian unsigned length, then the payload; big messages complete."""
    big = bytes(range(256)) * 4000                 # 1 024 000 bytes: more than one send() writes
    messages = [b"hi", b"", big]
    a, b = socket.socketpair()
    received = bytearray()

    def read_all():
        while True:
            chunk = b.recv(1 << 16)
            if not chunk:
                return
            received.extend(chunk)

    reader = Background(read_all, name="reader")
    with a, b:
        a.settimeout(5.0)          # a socket with a timeout: send() may write only part of the data
        for data in messages:
            out = call_in_thread(send_msg, a, data, timeout=5)
            if out.status == "raised":
                return failed(f"send_msg(sock, {_describe(data)}) raised {out.describe_error()}.")
            if out.status == "hung":
                return failed(f"send_msg(sock, {_describe(data)}) did not return within 5 s.")
        a.shutdown(socket.SHUT_WR)
        reader.wait(5)
    raw = bytes(received)
    expected = b"".join(frame(m) for m in messages)
    if raw == expected:
        return passed()
    first = raw[:4]
    if first == struct.pack("<I", 2):
        return failed(f"send_msg(sock, b'hi') wrote the prefix {first!r}, which is little-endian: the length must "
                      "be 4 bytes in network (big-endian) order, struct.pack('>I', len(data)) or '!I'.")
    if raw[:6] != frame(b"hi"):
        return failed(f"send_msg(sock, b'hi') wrote {_short(raw[:12])} but the other end expects "
                      f"{frame(b'hi')!r}: 4 bytes of length, big-endian unsigned (struct.pack('>I', len(data))), "
                      "then the payload.")
    if len(raw) < len(expected):
        return failed(f"only {len(raw)} of the {len(expected)} bytes sent reached the other end: send() may write "
                      "only part of the data, so use sock.sendall().")
    return failed(f"the bytes that arrived ({len(raw)}) are not prefix + payload for each message "
                  f"({len(expected)} bytes): send exactly struct.pack('>I', len(data)) + data.")


def _recv_sequence(recv_msg, sock, expected: list, deadline: float = 3.0):
    """Call recv_msg once per expected value; return (index, outcome) of the first miss, else None."""
    for i, want in enumerate(expected):
        out = call_in_thread(recv_msg, sock, timeout=deadline, name="recv_msg")
        if out.status != "ok" or out.value != want:
            return i, out
    return None


@check(timeout=20, label="recv_msg")
def check_recv_msg_split_stream(recv_msg) -> Verdict:
    """The stream arrives one byte at a time: every recv returns a single byte."""
    messages = [b"hello, world", b"xyz"]
    a, b = socket.socketpair()
    with a, b:
        peer = Background(trickle, a, b, one_byte_pieces(b"".join(frame(m) for m in messages)), name="peer")
        miss = _recv_sequence(recv_msg, b, messages)
        peer.wait(0.1)
    if miss is None:
        return passed()
    i, out = miss
    advice = ("recv(n) returns whatever has arrived, at least 1 byte and at most n, so loop until you have the 4 "
              "header bytes, then loop until you have the whole payload.")
    if out.status == "raised":
        return failed(f"when the stream arrived one byte at a time, recv_msg raised {out.describe_error()}: {advice}")
    if out.status == "hung":
        return failed(f"when the stream arrived one byte at a time, recv_msg did not return message {i + 1} within "
                      f"3 s (is the prefix read big-endian, struct.unpack('>I', header)?): {advice}")
    return failed(f"when the stream arrived one byte at a time, recv_msg returned {_describe(out.value)} instead of "
                  f"{messages[i]!r}: {advice}")


@check(timeout=20, label="recv_msg")
def check_recv_msg_segments(recv_msg) -> Verdict:
    """Two messages in one segment (粘包), then a 200 000-byte message that arrives in pieces."""
    a, b = socket.socketpair()
    with a, b:
        a.sendall(frame(b"first") + frame(b"second"))
        miss = _recv_sequence(recv_msg, b, [b"first", b"second"])
    if miss is not None:
        i, out = miss
        if out.status == "raised":
            return failed(f"when two messages arrived in one segment, recv_msg raised {out.describe_error()}: read "
                          "exactly 4 + length bytes per message and leave the rest for the next call.")
        if out.status == "hung":
            return failed(f"when two messages arrived in one segment, recv_msg did not return message {i + 1} "
                          "within 3 s (is the prefix read big-endian, struct.unpack('>I', header)?): read exactly "
                          "4 + length bytes per message; anything you read beyond the first message is lost for "
                          "the next call.")
        return failed(f"when two messages (b'first', b'second') arrived in one segment, recv_msg returned "
                      f"{_describe(out.value)} as message {i + 1}: TCP keeps no boundaries, so read exactly the "
                      "4-byte header, then exactly `length` bytes, and leave the rest in the socket.")
    big = bytes(range(256)) * 781 + b"end!"          # 199 940 bytes
    data = frame(big)
    pieces = [data[:1004]] + [data[i:i + 65536] for i in range(1004, len(data), 65536)]
    a, b = socket.socketpair()
    with a, b:
        peer = Background(trickle, a, b, pieces, name="peer")
        miss = _recv_sequence(recv_msg, b, [big], deadline=5.0)
        peer.wait(0.1)
    if miss is None:
        return passed()
    _i, out = miss
    advice = "one recv() returns only what has arrived, so keep calling recv until all `length` bytes are in."
    if out.status == "raised":
        return failed(f"for a {len(big)}-byte message that arrived in pieces, recv_msg raised "
                      f"{out.describe_error()}: {advice}")
    if out.status == "hung":
        return failed(f"recv_msg did not return a {len(big)}-byte message within 5 s: {advice}")
    got = len(out.value) if isinstance(out.value, (bytes, bytearray)) else None
    if got is not None:
        return failed(f"a {len(big)}-byte message that arrived in pieces came back as {got} bytes: {advice}")
    return failed(f"for a {len(big)}-byte message recv_msg returned {_describe(out.value)}: {advice}")


@check(timeout=20, label="recv_msg")
def check_recv_msg_close(recv_msg) -> Verdict:
    """A close between messages gives None; a close inside a message raises ConnectionError (in time)."""
    a, b = socket.socketpair()
    with a, b:
        a.sendall(frame(b"last"))
        a.close()
        miss = _recv_sequence(recv_msg, b, [b"last", None], deadline=2.0)
    if miss is not None:
        i, out = miss
        if i == 0:
            got = (f"returned {_describe(out.value)}" if out.status == "ok" else
                   f"raised {out.describe_error()}" if out.status == "raised" else "did not return within 2 s")
            return failed(f"for a message b'last' followed by a clean close, recv_msg {got}: read the 4-byte "
                          "big-endian length, then exactly that many bytes.")
        if out.status == "hung":
            return failed("after the peer closed cleanly between two messages, recv_msg never returned (still "
                          "looping after 2 s): recv() returns b'' for ever once the peer has closed; when that "
                          "happens before the first header byte, return None.")
        if out.status == "raised":
            return failed(f"after the peer closed cleanly between two messages, recv_msg raised "
                          f"{out.describe_error()}: a close before the first header byte is the normal end, so "
                          "return None.")
        return failed(f"after the peer closed cleanly between two messages, recv_msg returned "
                      f"{_describe(out.value)}: return None when recv() gives b'' before the first header byte.")
    cases = [(HEADER.pack(10) + b"abc", "after 3 of 10 payload bytes"), (b"\x00\x00", "after 2 of the 4 header bytes")]
    for sent, where in cases:
        a, b = socket.socketpair()
        with a, b:
            a.sendall(sent)
            a.close()
            out = call_in_thread(recv_msg, b, timeout=2.0, name="recv_msg")
        if out.status == "raised" and isinstance(out.error, ConnectionError):
            continue
        if out.status == "hung":
            return failed(f"when the peer closed in the middle of a message ({where}), recv_msg never returned "
                          "(still looping after 2 s): once the peer has closed, recv() returns b'' for ever, so "
                          "check for b'' and raise ConnectionError when it comes inside a message.")
        if out.status == "raised":
            return failed(f"when the peer closed in the middle of a message ({where}), recv_msg raised "
                          f"{out.describe_error()}: raise ConnectionError for a message cut short.")
        if out.value is None:
            return failed(f"when the peer closed in the middle of a message ({where}), recv_msg returned None: "
                          "None means a clean close between messages; a message cut short must raise "
                          "ConnectionError.")
        return failed(f"when the peer closed in the middle of a message ({where}), recv_msg returned "
                      f"{_describe(out.value)}: a message cut short is an error, raise ConnectionError.")
    return passed()


# --------------------------------------------------------------------------------------
# serve

class RendezvousHandler:
    """The ``handler`` handed to serve: reads its client's role, meets another handler, replies.

    Roles: "solo" (no rendezvous), "quick" (reply, close, exit), "hold" (reply, then
    stay until the client says "done"). Arrivals are files in a folder, so the handler
    pickles as two folder names and works under every start method.
    """

    def __init__(self, timeline: Timeline, folder: str, patience: float = PATIENCE):
        self.timeline = timeline
        self.folder = folder
        self.patience = patience

    def __call__(self, conn) -> None:
        tl = self.timeline
        tl.state("running", "handler")
        try:
            conn.settimeout(10)
            role = _read_line(conn)
            tl.state("running", f"serving client {role}")
            if role != "solo":
                tl.state("blocked", "waiting for another handler")
                met = self._meet()
                tl.mark("met another handler" if met else "alone", role)
                tl.state("running", f"serving client {role}")
            conn.sendall(f"hello {role}\n".encode())
            if role == "hold":
                tl.state("blocked", "serving: waiting for the client's 'done'")
                _read_line(conn)
                conn.sendall(b"bye\n")
            tl.mark("handler closes", role)
            conn.close()
        except Exception as exc:
            tl.mark("handler error", f"{type(exc).__name__}: {exc}")
        finally:
            tl.state("exited")

    def _meet(self) -> bool:
        mine = os.path.join(self.folder, str(os.getpid()))
        with open(mine, "w"):
            pass
        deadline = time.monotonic() + self.patience
        while time.monotonic() < deadline:
            if len(os.listdir(self.folder)) >= 2:
                return True
            time.sleep(0.002)
        if len(os.listdir(self.folder)) >= 2:
            return True
        os.remove(mine)            # left alone: a later handler must not count us as company
        return False

    def __repr__(self) -> str:
        return "handler"


def _read_line(sock) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(64)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").strip()


def _listener() -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((LOCALHOST, 0))
    listener.listen(8)
    return listener


def _connect(addr, role: str) -> socket.socket:
    client = socket.create_connection(addr, timeout=10)
    client.sendall(f"{role}\n".encode())
    return client


def _reply(client: socket.socket, timeout: float, server: Background | None = None) -> str | None:
    """The handler's reply line, or None after ``timeout`` (sooner if serve has already ended)."""
    import select

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([client], [], [], 0.05)
        if ready:
            client.settimeout(max(deadline - time.monotonic(), 0.1))
            try:
                return _read_line(client) or None
            except OSError:
                return None
        if server is not None and server.done() and server.box.get("status") == "raised":
            return None
    return None


def _handler_events(tl: Timeline) -> dict[int, list]:
    spans: dict[int, list] = {}
    for e in tl.events():
        if e.kind == "state" and e.what == "running" and e.detail.startswith("serving client"):
            spans.setdefault(e.pid, []).append(e)
    return spans


def _marks(tl: Timeline, what: str) -> list:
    return [e for e in tl.events() if e.kind == "mark" and e.what == what]


def _serve_common(tl: Timeline, outcome, call: str, n: int) -> Verdict | None:
    """Verdicts shared by both serve checks, once serve has returned."""
    if outcome.status == "raised":
        return failed(f"{call} raised {outcome.describe_error()}.", tl)
    handler_pids = set(_handler_events(tl))
    if os.getpid() in handler_pids:
        return failed(f"{call} ran the handler inside its own process: start a multiprocessing.Process with "
                      "target=handler, args=(conn,) for each connection.", tl)
    if len(handler_pids) < n:
        return failed(f"{call} ran the handler for {len(handler_pids)} of {n} clients: accept n_clients connections "
                      "and start one handler process for each.", tl)
    errors = _marks(tl, "handler error")
    if errors:
        return failed(f"a handler started by serve failed ({errors[0].detail}): pass it the accepted connection, "
                      "handler(conn).", tl)
    exits = [e.t for e in tl.events() if e.kind == "state" and e.what == "exited" and e.pid in handler_pids]
    if len(exits) < len(handler_pids) or max(exits) > outcome.ended:
        return failed(f"{call} returned while a handler was still running: join every handler process before "
                      "returning.", tl, [(outcome.ended, max(exits, default=outcome.ended) + 0.01)])
    left = wait_for_no_descendants(0.3)
    if left:
        return failed(f"{len(left)} process(es) were still running after {call} returned: join every handler "
                      "process.", tl)
    return None


@check(timeout=20, label="serve")
def check_serve_one_client(serve) -> Verdict:
    """One client: its handler runs in a child process, gets the connection, and serve waits for it."""
    tl = Timeline()
    folder = tempfile.mkdtemp(prefix="mpcourse-rendezvous-")
    listener = _listener()
    call = "serve(listener, handler, 1)"
    try:
        with watch_processes():
            server = Background(serve, listener, RendezvousHandler(tl, folder), 1, name="serve")
            client = _connect(listener.getsockname(), "solo")
            reply = _reply(client, 5.0, server)
            tl.mark("client got", str(reply), name="client")
            outcome = server.wait(5.0)
        client.close()
        if outcome.status == "hung":
            if reply is None:
                return failed(f"{call} never ran the handler for the client: accept the connection and start "
                              "a process running handler(conn).", tl)
            return failed(f"{call} did not return after the handler had finished: join the handler processes, "
                          "then return.", tl)
        verdict = _serve_common(tl, outcome, call, 1)
        if verdict:
            return verdict
        if reply != "hello solo":
            return failed(f"the client got {reply!r} from the handler, expected 'hello solo': give the handler "
                          "the accepted connection.", tl)
        return passed()
    finally:
        listener.close()
        shutil.rmtree(folder, ignore_errors=True)


@check(timeout=30, label="serve")
def check_serve_concurrently(serve) -> Verdict:
    """Two clients at once; the one whose handler finishes first must see EOF while the other is served."""
    tl = Timeline()
    folder = tempfile.mkdtemp(prefix="mpcourse-rendezvous-")
    listener = _listener()
    addr = listener.getsockname()
    call = "serve(listener, handler, 2)"
    picture = "serve: one row per handler process"
    hold = quick = None
    try:
        with watch_processes():
            server = Background(serve, listener, RendezvousHandler(tl, folder), 2, name="serve")
            hold = _connect(addr, "hold")          # accepted first, served until we say "done"
            quick = _connect(addr, "quick")        # accepted last: its handler finishes first
            hold_reply = _reply(hold, 10.0, server)
            if hold_reply is None and server.done():
                outcome = server.wait(0)
                if outcome.status == "raised":
                    return failed(f"{call} raised {outcome.describe_error()}.", tl, title=picture)
            tl.mark("client 'hold' got a reply" if hold_reply else "client 'hold': no reply", name="clients")
            alone = _marks(tl, "alone")
            quick_reply = None if alone else _reply(quick, 6.0, server)
            eof = None
            if quick_reply:
                tl.mark("client 'quick' got a reply", name="clients")
                quick.settimeout(3.0)
                try:
                    eof = quick.recv(64) == b""
                except (TimeoutError, OSError):
                    eof = False
                tl.mark("client 'quick' saw EOF" if eof else "client 'quick': no EOF", name="clients")
            if not alone and not quick_reply:
                alone = _marks(tl, "alone")
            if alone or quick_reply is None:
                spans = [(e.t - PATIENCE, e.t) for e in alone]
                return failed(f"{call} served the clients one at a time: a handler waited {PATIENCE:g} s for another "
                              "handler that had not been started; start a process for each connection right "
                              "after accept() and join them all only after the loop.", tl, spans,
                              title=picture)
            hold.sendall(b"done\n")
            outcome = server.wait(5.0)
        if eof is False:
            closes = _marks(tl, "handler closes")
            start = closes[0].t if closes else outcome.started
            return failed(f"the client whose handler had finished saw no EOF while {call} was still serving the "
                          "other client: the parent keeps its own copy of each accepted connection, so close it "
                          "(conn.close()) right after starting the handler process.", tl,
                          [(start, start + 3.0)], title=picture)
        if outcome.status == "hung":
            return failed(f"{call} did not return after both handlers had finished: join the handler processes, "
                          "then return.", tl, title=picture)
        verdict = _serve_common(tl, outcome, call, 2)
        if verdict:
            verdict.title = verdict.title or picture
            return verdict
        return passed()
    finally:
        listener.close()
        shutil.rmtree(folder, ignore_errors=True)
        for client in (hold, quick):
            if client is not None:
                client.close()


# --------------------------------------------------------------------------------------
# udp_request

def udp_test_server(port_out, drop: int, timeline: Timeline, lifetime: float = 30.0) -> None:
    """Child: a UDP server on 127.0.0.1 that drops the first ``drop`` datagrams and answers the rest."""
    timeline.state("running", "test server")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((LOCALHOST, 0))
    port_out.send(sock.getsockname()[1])
    port_out.close()
    sock.settimeout(0.2)
    seen = 0
    deadline = time.monotonic() + lifetime
    timeline.state("blocked", "recvfrom")
    while time.monotonic() < deadline:
        try:
            data, addr = sock.recvfrom(65535)
        except TimeoutError:
            continue
        seen += 1
        if seen <= drop:
            timeline.mark("dropped", f"datagram {seen}")
            continue
        timeline.mark("answered", f"datagram {seen}")
        sock.sendto(b"reply:" + data, addr)


class UdpTestServer:
    def __init__(self, drop: int, timeline: Timeline):
        ctx = multiprocessing.get_context()
        receiver, sender = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=udp_test_server, args=(sender, drop, timeline), name="test UDP server")
        self.process.start()
        sender.close()
        if not receiver.poll(10):
            raise RuntimeError("the test UDP server did not start")
        self.addr = (LOCALHOST, receiver.recv())
        receiver.close()

    def stop(self) -> None:
        self.process.kill()
        self.process.join(2)


def _udp_call(udp_request, addr, payload: bytes, timeout: float, retries: int, deadline: float,
              tl: Timeline):
    tl.state("blocked", "udp_request", name="udp_request")
    out = call_in_thread(udp_request, addr, payload, timeout, retries, timeout=deadline, name="udp_request")
    tl.state("exited", name="udp_request")
    return out


@check(timeout=25, label="udp_request")
def check_udp_request_reply(udp_request) -> Verdict:
    """A server that answers at once: the reply comes back."""
    tl = Timeline()
    server = UdpTestServer(0, tl)
    try:
        call = "udp_request(addr, b'ping', timeout=1.0, retries=2)"
        out = _udp_call(udp_request, server.addr, b"ping", 1.0, 2, 4.0, tl)
    finally:
        server.stop()
    if out.status == "raised":
        return failed(f"{call} raised {out.describe_error()} although the server answered.", tl)
    if out.status == "hung":
        return failed(f"{call} did not return within 4 s although the server answered at once: send the datagram "
                      "with sendto(payload, addr) and return the data of recvfrom().", tl)
    if out.value != b"reply:ping":
        return failed(f"{call} returned {_describe(out.value)}, expected the server's reply b'reply:ping'.", tl)
    return passed()


@check(timeout=25, label="udp_request")
def check_udp_request_retries(udp_request) -> Verdict:
    """The server drops the first datagram (then the first two): udp_request must resend after timeout."""
    for drop, timeout in ((1, 0.3), (2, 0.2)):
        tl = Timeline()
        server = UdpTestServer(drop, tl)
        call = f"udp_request(addr, b'ping', timeout={timeout}, retries=2)"
        lost = "first datagram was" if drop == 1 else "first two datagrams were"
        try:
            out = _udp_call(udp_request, server.addr, b"ping", timeout, 2, 3.0, tl)
        finally:
            server.stop()
        title = f"{call}: the test server drops the {lost.split(' was')[0].split(' were')[0]}"
        if out.status == "hung":
            return failed(f"{call} was still waiting 3 s after its {lost} lost (the test server drops them on "
                          "purpose; UDP may lose any datagram): set sock.settimeout(timeout) and send the datagram "
                          "again after each timeout, up to `retries` more times.", tl, title=title)
        if out.status == "raised":
            if isinstance(out.error, TimeoutError):
                return failed(f"{call} gave up after its {lost} lost although retries=2: after each timeout send "
                              "the datagram again, up to `retries` more times, before raising TimeoutError.", tl,
                              title=title)
            return failed(f"{call} raised {out.describe_error()} when its {lost} lost.", tl, title=title)
        if out.value != b"reply:ping":
            return failed(f"{call} returned {_describe(out.value)}, expected the server's reply b'reply:ping'.", tl,
                          title=title)
        if out.elapsed < timeout * drop * 0.8:
            return failed(f"{call} resent after {out.elapsed:.2f} s: wait `timeout` seconds for each reply before "
                          "sending again.", tl, title=title)
    return passed()


@check(timeout=25, label="udp_request")
def check_udp_request_gives_up(udp_request) -> Verdict:
    """Nobody answers: TimeoutError after about timeout * (retries + 1), with 1 + retries datagrams sent."""
    timeout, retries = 0.2, 2
    expected = timeout * (retries + 1)
    call = f"udp_request(addr, b'ping', timeout={timeout}, retries={retries})"
    tl = Timeline()
    hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)      # bound, never answers
    hole.bind((LOCALHOST, 0))
    try:
        out = _udp_call(udp_request, hole.getsockname(), b"ping", timeout, retries, expected + 4.0, tl)
        hole.setblocking(False)
        sent = 0
        while True:
            try:
                hole.recvfrom(65535)
                sent += 1
            except (BlockingIOError, OSError):
                break
    finally:
        hole.close()
    if out.status == "hung":
        return failed(f"with no server answering, {call} was still waiting after {expected + 4.0:g} s: wait "
                      "`timeout` seconds for each of the 1 + retries tries, then raise TimeoutError.", tl)
    if out.status == "ok":
        return failed(f"with no server answering, {call} returned {_describe(out.value)}: raise TimeoutError when "
                      "no reply comes.", tl)
    if not isinstance(out.error, TimeoutError):
        return failed(f"with no server answering, {call} raised {out.describe_error()}: raise TimeoutError "
                      "when no reply comes.", tl)
    if sent != retries + 1:
        return failed(f"with no server answering, {call} sent {sent} datagram(s): send it once, then again after "
                      f"each timeout, {retries + 1} times in all.", tl)
    if not expected * 0.8 <= out.elapsed <= expected + 2.0:
        return failed(f"with no server answering, {call} gave up after {out.elapsed:.2f} s; expected about "
                      f"timeout * (retries + 1) = {expected:g} s.", tl)
    return passed()
