"""Checks for assignment 07_sockets: framing (send_msg, recv_msg), serve, udp_request.

The judge holds the far end of every connection: the stage makes the sockets in its own
network namespace and hands the judge its end by descriptor (``judge.take_socket``), so
the student's code runs in the stage while every byte it sends or must receive passes
through a socket only the judge reads and writes. The judge also holds a copy of the
student's end only to ask the kernel how many bytes wait there unread (FIONREAD), which
tells it when the student's code has consumed what was sent.

Test plan (COURSE_SPEC's contract, dimension by dimension):

``send_msg(sock, data)`` / ``recv_msg(sock)``
  * values: b"hello", the empty message b"" and 1 000 bytes, judged by the raw bytes
    that arrive (4-byte big-endian unsigned length, then the payload): a little-endian
    or otherwise wrong prefix fails (``check_framing``, the visible test);
  * stream splits: the judge sends each message one byte at a time, the next byte only
    once the previous one was read, so no ``recv`` can return more than one byte; the
    student's socket has a timeout set, so ``recv(n, MSG_WAITALL)`` returns short too:
    assuming ``recv(n)`` returns n bytes, or one ``recv(1024)``, fails every run
    (``check_framing``); two messages (and an empty one) in one segment must come back
    separately (``check_recv_msg_segments``); a message cut inside its header, then one cut
    inside its payload, whose rest arrives in one segment with the next message while
    recv_msg waits in the middle of a read: asking recv() for more than the bytes still
    missing (``n + len(buf)``, ``n``) takes the next message's bytes, every run
    (``check_recv_msg_segments``);
  * sizes: a 1 MiB message sent in 64 KiB pieces, each only once the previous one was
    read, so one ``recv(length)`` returns short every run (``check_recv_msg_segments``);
    a 1 MiB ``send_msg`` on a socket with a timeout and small buffers, where ``send()``
    writes only part (``check_send_msg_wire_format``);
  * close: a close between messages gives None (``check_framing``, ``check_recv_msg_close``);
    a close inside the header or the payload raises ConnectionError, never returns, never
    spins on b"" (``check_recv_msg_close``).
``serve(listener, handler, n_clients)`` (the stage makes the listener and the judge's clients)
  * concurrency: every handler (a course object) waits at a rendezvous the judge holds
    until all n have started; a server that serves one client at a time leaves the first
    one alone there, every run (``check_serve_concurrently``, the visible test);
  * processes: each handler must report from a process of its own, not serve's;
  * the parent's copy: the first handler the judge lets end (the connection accepted last,
    then the first one) must leave its client at EOF while the others are still served
    (``check_serve_concurrently``, ``check_serve_waits_for_every_handler``);
  * waiting: the judge lets one handler outlive the others (the middle one; then, with two
    clients, the one accepted last); serve returning while the judge still holds it did not
    wait; one client alone (``check_serve_waits_for_every_handler``); serve must then return,
    and leave no process running.
``udp_request(addr, payload, timeout, retries)`` (the judge serves on a UDP socket the stage made)
  * loss: the judge drops the first datagram (then the first two) on purpose: no timeout or
    no resend fails every run; it counts the datagrams and times the resends against
    ``timeout`` (``check_udp_request_retries``, the visible test; ``check_udp_request_losses``);
  * sizes: a reply of 65 507 bytes, the largest a UDP datagram holds, must come back whole
    (``check_udp_request_losses``);
  * giving up: nobody answers: exactly 1 + retries datagrams, then TimeoutError after about
    timeout * (retries + 1) (``check_udp_request_losses``);
  * the judge's own speed: an exchange in which the call gave up after the judge's reply left
    late (half the timeout or more after the datagram arrived: a loaded machine) runs again,
    up to three times, so only the student's timing decides.
"""
from __future__ import annotations

import copyreg
import socket
import struct
import sys
import time

from . import Verdict, check, failed, passed

MODULE = "mpcourse.checks.sockets"
HEADER = struct.Struct(">I")
TIMEOUT = 5.0                  # the timeout set on the student's end of a connection
PIECE = 64 * 1024
MAX_UDP = 65507


def _reduce_struct(s: struct.Struct):
    return struct.Struct, (s.format,)


# A cell that keeps ``HEADER = struct.Struct("!I")`` as a global is a good answer, but
# struct.Struct does not pickle, and the answer travels to the stage by value.
copyreg.pickle(struct.Struct, _reduce_struct)


def frame(data: bytes) -> bytes:
    return HEADER.pack(len(data)) + data


# --------------------------------------------------------------------------------------
# course objects: made in the stage, next to the student's code

def tcp_pair_watched(timeout: float | None, small_buffers: bool = False) -> tuple:
    """(the student's end, with ``timeout``; the judge's end; a copy of the student's end for FIONREAD)."""
    import socket

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    near = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if small_buffers:          # so that one send() of a big message writes only part of it
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        near.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
    with listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        near.connect(listener.getsockname())
        far, _ = listener.accept()
    far.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)     # one byte is one segment, at once
    near.settimeout(timeout)
    return near, far, near.dup()


def client_of(listener):
    """A client connected to ``listener`` (the judge takes it: it plays the client)."""
    import socket

    client = socket.create_connection(listener.getsockname(), timeout=10)
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client


class Handler:
    """The ``handler`` handed to serve: says which client it serves, meets the others, replies, ends when told."""

    def __init__(self, recorder):
        self.recorder = recorder

    def __call__(self, conn) -> None:
        try:
            port = conn.getpeername()[1]
        except Exception as exc:  # noqa: BLE001 (whatever the student passed, the judge hears of it)
            self.recorder.ask("error", f"{type(exc).__name__}: {exc}"[:200])
            return
        self.recorder.ask("arrive", port)             # held until every handler has arrived
        conn.sendall(b"hello %d\n" % port)
        self.recorder.ask("finish", port)             # held until the judge lets this handler end
        conn.close()

    def __repr__(self) -> str:
        return "handler"


# --------------------------------------------------------------------------------------
# the judge's side: streams

def _unread(sock) -> int:
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


def _short(data, limit: int = 40) -> str:
    if isinstance(data, (bytes, bytearray)) and len(data) > limit:
        return f"{len(data)} bytes starting {bytes(data[:12])!r}"
    text = repr(data)
    return text if len(text) <= limit + 20 else text[:limit + 20] + "..."


class _Stream:
    """The judge's end of one connection (and its view of the student's unread bytes)."""

    def __init__(self, judge, small_buffers: bool = False):
        self.judge = judge
        self.near, far, peek = judge.make(f"{MODULE}:tcp_pair_watched", TIMEOUT, small_buffers, parts=3)
        self.far = judge.take_socket(far)
        self.peek = judge.take_socket(peek)

    def consumed(self, call, patience: float = 2.0) -> bool:
        """Wait until the student's end has no unread byte (or the call ended); False if it never read."""
        deadline = time.monotonic() + patience
        seen_arrive = False
        start = time.monotonic()
        while time.monotonic() < deadline:
            left = _unread(self.peek)
            if left < 0:
                time.sleep(0.01)
                return True
            if left > 0:
                seen_arrive = True
            elif seen_arrive or time.monotonic() - start > 0.02:
                return True
            if call.finished.is_set():
                return left == 0
            time.sleep(0.0005)
        return False

    def trickle(self, call, pieces: list[bytes]) -> bool:
        """Send each piece only once the student has read all before it; False if it stopped reading."""
        for piece in pieces:
            if call.finished.is_set():
                return True
            try:
                self.far.sendall(piece)
            except OSError:
                return False
            if not self.consumed(call):
                return False
        return True

    def read(self, want: int, patience: float = 1.0) -> bytes:
        """What arrives at the judge's end: ``want`` bytes, or fewer after ``patience`` s of silence."""
        got = bytearray()
        self.far.settimeout(patience)
        while len(got) < want:
            try:
                chunk = self.far.recv(min(want - len(got), 1 << 20))
            except OSError:
                break
            if not chunk:
                break
            got += chunk
        self.far.settimeout(0.05)
        try:
            extra = self.far.recv(64)          # anything more than expected is a mistake too
            got += extra
        except OSError:
            pass
        return bytes(got)

    def close(self) -> None:
        for sock in (self.far, self.peek):
            try:
                sock.close()
            except OSError:
                pass


def _one_bytes(data: bytes) -> list[bytes]:
    return [data[i:i + 1] for i in range(len(data))]


def _wire_problem(data: bytes, raw: bytes) -> tuple[str, str] | None:
    """(mistake, sentence) when ``raw`` is not the framing of ``data``."""
    want = frame(data)
    if raw == want:
        return None
    shown = f"send_msg(sock, {_short(data, 20)})"
    if raw[:4] == struct.pack("<I", len(data)) and data and raw[:4] != want[:4]:
        return "framing/little-endian", (f"{shown} wrote the prefix {raw[:4]!r}, which is little-endian: the length "
                                         "must be 4 bytes in network (big-endian) order, struct.pack('>I', len(data)) "
                                         "or '!I'.")
    if len(raw) < len(want) and want.startswith(raw) and len(raw) >= 4:
        return "framing/partial-send", (f"only {len(raw)} of the {len(want)} bytes of {shown} reached the other end: "
                                        "send() may write only part of the data (always on a socket with a timeout "
                                        "and a full buffer), so use sock.sendall().")
    return "framing/wrong-prefix", (f"{shown} wrote {_short(raw, 24)} but the other end expects {_short(want, 24)}: 4 "
                                    "bytes of length, big-endian unsigned (struct.pack('>I', len(data))), then the "
                                    "payload, nothing else.")


def _send_all(judge, send_msg, stream: _Stream, messages: list[bytes], wait_before_reading: float = 0.0) -> \
        Verdict | None:
    for data in messages:
        call = judge.call(send_msg, stream.near, data, name="send_msg")
        call.wait(wait_before_reading)          # a send() that writes part returns now; sendall() waits for us
        raw = stream.read(len(frame(data)))
        call.wait(5.0)
        shown = f"send_msg(sock, {_short(data, 20)})"
        if call.status == "raised":
            return failed("framing/send-raised", f"{shown} raised {call.error()}.")
        if call.status != "returned":
            return failed("framing/send-hangs", f"{shown} did not return within 5 s although the other end read "
                          "everything it sent.")
        problem = _wire_problem(data, raw)
        if problem:
            return failed(*problem)
    return None


def _receive(judge, recv_msg, stream: _Stream, pieces: list[bytes]):
    """Call recv_msg while the judge sends ``pieces``; (call, whether it read them all) afterwards."""
    call = judge.call(recv_msg, stream.near, name="recv_msg")
    read_all = stream.trickle(call, pieces)
    call.wait(2.0)
    return call, read_all


def _recv_problem(call, data: bytes | None, read_all: bool, how: str, kind: str) -> Verdict | None:
    want = "None" if data is None else _short(data)
    if call.status == "returned" and (call.value is None if data is None else type(call.value) is bytes and
                                      call.value == data):
        return None
    advice = ("recv(n) returns whatever has arrived, at least 1 byte and at most n, so loop until you have the 4 "
              "header bytes, then loop until you have the whole payload")
    if kind == "close":
        if call.status == "hung":
            return failed("framing/spins-on-close", f"after {how}, recv_msg never returned: once the peer has "
                          "closed, recv() returns b'' at once and for ever, so test for b'' in every read loop.")
        if call.status == "raised":
            return failed("framing/close-not-none", f"after {how}, recv_msg raised {call.error()}: a close before "
                          "the first header byte is the normal end, so return None.")
        return failed("framing/close-not-none", f"after {how}, recv_msg returned {_short(call.value)}: return None "
                      "when recv() gives b'' before the first header byte.")
    if kind == "segment":
        got = ("did not return it within 2 s" if call.status == "hung" else
               f"raised {call.error()}" if call.status == "raised" else f"returned {_short(call.value)}")
        return failed("framing/reads-past-message", f"when {how}, recv_msg {got} (expected {want}): TCP keeps no "
                      "boundaries, so read exactly the 4 header bytes, then exactly `length` bytes, and leave the rest "
                      "in the socket for the next call.")
    if call.status == "hung" and read_all:
        return failed("framing/waits-for-more", f"when {how}, recv_msg read all of it and still waited for more "
                      f"(expected {want}): read the 4-byte prefix as big-endian unsigned (struct.unpack('>I', "
                      "header)) and then exactly that many bytes.")
    if call.status == "hung":
        return failed("framing/hangs", f"when {how}, recv_msg did not return {want} within 2 s: {advice}.")
    got = f"raised {call.error()}" if call.status == "raised" else f"returned {_short(call.value)}"
    if data == b"":
        return failed("framing/empty-message", f"when {how}, recv_msg {got} instead of b'': an empty message is "
                      "4 zero bytes of prefix and no payload; return b'' (None means the peer closed).")
    if kind == "big":
        return failed("framing/big-message", f"when {how}, recv_msg {got}: one recv() returns only what has "
                      "arrived, so keep calling recv until all `length` bytes are in.")
    return failed("framing/short-read", f"when {how}, recv_msg {got} instead of {want}: {advice}.")


def _not_written(name: str) -> Verdict:
    return failed("answer/not-written", f"`{name}` is not written yet (it raises NotImplementedError).")


@check(timeout=30, label="framing")
def check_framing(judge, send_msg, recv_msg) -> Verdict:
    """send_msg's raw bytes; recv_msg on a stream that arrives one byte at a time; a clean close gives None."""
    from ..judge import NotWrittenYet

    sender = _Stream(judge)
    try:
        verdict = _send_all(judge, send_msg, sender, [b"hello", b"", bytes(range(256)) * 4])
    except NotWrittenYet:
        return _not_written("send_msg")
    sender.close()
    if verdict:
        return verdict
    try:
        return _check_recv_framing(judge, recv_msg)
    except NotWrittenYet:
        return _not_written("recv_msg")


def _check_recv_framing(judge, recv_msg) -> Verdict:
    stream = _Stream(judge)
    for data in [b"hello", b"", b"world!"]:
        how = f"the message {data!r} arrived one byte at a time"
        call, read_all = _receive(judge, recv_msg, stream, _one_bytes(frame(data)))
        verdict = _recv_problem(call, data, read_all, how, "split")
        if verdict:
            return verdict
    stream.far.close()
    call, _ = _receive(judge, recv_msg, stream, [])
    stream.peek.close()
    verdict = _recv_problem(call, None, True, "the peer closed between two messages", "close")
    return verdict or passed("send_msg framed b'hello', b'' and 1000 bytes exactly; recv_msg got each message one "
                             "byte at a time on a socket with a timeout, then None at the close")


@check(timeout=30, label="send_msg")
def check_send_msg_wire_format(judge, send_msg) -> Verdict:
    """A 1 MiB message on a socket with a timeout and small buffers, where one send() writes only part."""
    stream = _Stream(judge, small_buffers=True)
    big = bytes(range(256)) * 4096
    verdict = _send_all(judge, send_msg, stream, [b"hi", b"", big], wait_before_reading=0.3)
    stream.close()
    return verdict or passed("b'hi', b'' and a 1 MiB message arrived whole and correctly framed from a socket with "
                             "a timeout and small buffers")


@check(timeout=40, label="recv_msg")
def check_recv_msg_segments(judge, recv_msg) -> Verdict:
    """Two messages in one segment (粘包), an empty one between, 1 MiB in pieces, messages that straddle segments."""
    stream = _Stream(judge)
    segment = frame(b"first") + frame(b"") + frame(b"second")
    stream.far.sendall(segment)
    for data in [b"first", b"", b"second"]:
        how = "b'first', b'' and b'second' arrived in one segment"
        call, read_all = _receive(judge, recv_msg, stream, [])
        verdict = _recv_problem(call, data, read_all, how, "segment")
        if verdict:
            return verdict
    big = bytes(range(256)) * 4096
    data = frame(big)
    pieces = [data[:PIECE + 4]] + [data[i:i + PIECE] for i in range(PIECE + 4, len(data), PIECE)]
    how = f"a {len(big)}-byte message arrived in {len(pieces)} pieces"
    call, read_all = _receive(judge, recv_msg, stream, pieces)
    stream.close()
    verdict = _recv_problem(call, big, read_all, how, "big") or _straddled(judge, recv_msg)
    return verdict or passed(f"two messages and an empty one in one segment came back one by one, so did a "
                             f"message whose rest arrived with the next one, and a {len(big)}-byte message that "
                             "arrived in pieces came back whole")


def _straddled(judge, recv_msg) -> Verdict | None:
    """A message cut inside its header, then inside its payload, each rest arriving with the next message.

    recv_msg is then waiting in the middle of a read when more bytes arrive than that read
    still misses: a recv() asked for more than the missing count (``n + len(buf)``, ``n``)
    takes bytes of the next message with them, every run.
    """
    stream = _Stream(judge)
    try:
        return _straddled_on(judge, recv_msg, stream)
    finally:
        stream.close()


def _straddled_on(judge, recv_msg, stream: _Stream) -> Verdict | None:
    for first, second, cut in ((b"straddles", b"next", 2), (b"straddles", b"next", 4 + 3)):
        where = f"its first {cut} bytes" if cut < 4 else f"its header and {cut - 4} payload bytes"
        how = f"{where} of b'straddles' arrived alone, then its rest and the next message b'next' in one segment"
        head, rest = frame(first)[:cut], frame(first)[cut:] + frame(second)
        for data, pieces in ((first, [head, rest]), (second, [])):
            call, read_all = _receive(judge, recv_msg, stream, pieces)
            short = call.status == "returned" and type(call.value) is bytes and data.startswith(call.value)
            verdict = _recv_problem(call, data, read_all, how, "split" if short else "segment")
            if verdict:
                return verdict
    return None


@check(timeout=30, label="recv_msg")
def check_recv_msg_close(judge, recv_msg) -> Verdict:
    """A close between messages gives None; a close inside the header or the payload raises ConnectionError."""
    stream = _Stream(judge)
    stream.far.sendall(frame(b"last"))
    call, read_all = _receive(judge, recv_msg, stream, [])
    verdict = _recv_problem(call, b"last", read_all, "b'last' arrived", "split")
    if verdict:
        return verdict
    stream.far.close()
    call, _ = _receive(judge, recv_msg, stream, [])
    stream.peek.close()
    verdict = _recv_problem(call, None, True, "the peer closed between two messages", "close")
    if verdict:
        return verdict
    for sent, where in ((HEADER.pack(10) + b"abc", "after 3 of 10 payload bytes"),
                        (b"\x00\x00", "after 2 of the 4 header bytes")):
        stream = _Stream(judge)
        stream.far.sendall(sent)
        stream.far.close()
        call = judge.call(recv_msg, stream.near, name="recv_msg")
        call.wait(2.0)
        stream.peek.close()
        how = f"the peer closed in the middle of a message ({where})"
        if call.status == "raised" and call.error_type in ("ConnectionError", "ConnectionResetError",
                                                           "ConnectionAbortedError", "BrokenPipeError",
                                                           "IncompleteReadError"):
            continue
        if call.status == "hung":
            return failed("framing/spins-on-close", f"when {how}, recv_msg never returned: once the peer has closed, "
                          "recv() returns b'' at once and for ever, so test for b'' in every read loop and raise "
                          "ConnectionError when it comes inside a message.")
        if call.status == "raised":
            return failed("framing/cut-not-error", f"when {how}, recv_msg raised {call.error()}: raise "
                          "ConnectionError for a message cut short.")
        if call.value is None:
            return failed("framing/cut-not-error", f"when {how}, recv_msg returned None: None means a clean close "
                          "between messages; a message cut short must raise ConnectionError.")
        return failed("framing/cut-not-error", f"when {how}, recv_msg returned {_short(call.value)}: a message cut "
                      "short is an error, raise ConnectionError.")
    return passed("a close between messages gave None; a close inside the header or the payload raised "
                  "ConnectionError")


# --------------------------------------------------------------------------------------
# serve

class _Clients:
    """The judge's clients of serve, and what the handlers (course objects in the student's processes) report."""

    def __init__(self, judge, n: int):
        self.judge, self.cv, self.n = judge, judge.cv, n
        self.recorder = judge.recorder("serve")
        self.listener = judge.make("mpcourse.stage:tcp_listener")
        self.handler = judge.make(f"{MODULE}:Handler", self.recorder)
        self.socks = []
        self.index: dict[int, int] = {}                  # client port -> client number (accept order)
        for k in range(n):
            sock = judge.take_socket(judge.make(f"{MODULE}:client_of", self.listener))
            self.index[sock.getsockname()[1]] = k
            self.socks.append(sock)
            judge.record("state", "blocked", "connected, waiting to be served", name=f"client {k + 1}", pid=-1 - k)
        self.arrived: dict[int, tuple[int, str, float]] = {}    # client -> (pid, name, when)
        self.handlers: set[int] = set()                  # every handler process that reported, whichever client
        self.finished: set[int] = set()                  # clients whose handler may end
        self.closed: dict[int, float] = {}
        self.met = False
        self.gave_up = False
        self.errors: list[str] = []
        self.recorder.on("arrive", self._arrive)
        self.recorder.on("finish", self._finish)
        self.recorder.on("error", self._error)
        self.stage = judge.stage_peer.pid if judge.stage_peer else None

    def _client(self, port) -> int:
        return self.index.get(port, -1)

    def _arrive(self, peer, port) -> str:
        k = self._client(port)
        with self.cv:
            self.arrived[k] = (peer.pid, peer.name, time.perf_counter())
            self.handlers.add(peer.pid)
            self.judge.record("state", "running", "served", name=f"client {k + 1}", pid=-1 - k)
            self.judge.record("state", "blocked", f"client {k + 1}: waiting for the other handlers", peer=peer,
                              name=f"handler of client {k + 1}")
            self.cv.notify_all()
            while not (self.met or self.gave_up) and not self.judge.closed:
                self.cv.wait(0.05)
            self.judge.record("state", "running", f"serving client {k + 1}", peer=peer,
                              name=f"handler of client {k + 1}")
            return "met" if self.met else "alone"

    def _finish(self, peer, port) -> None:
        k = self._client(port)
        with self.cv:
            self.judge.record("state", "blocked", f"serving client {k + 1} (the checker holds it)", peer=peer)
            while k not in self.finished and not self.judge.closed:
                self.cv.wait(0.05)
            self.closed[k] = time.perf_counter()
            self.judge.record("mark", "closes", f"client {k + 1}", peer=peer)
            self.judge.record("state", "running", "ending", peer=peer)

    def _error(self, peer, text) -> None:
        with self.cv:
            self.errors.append(str(text))
            self.judge.record("mark", "handler error", str(text)[:60], peer=peer)
            self.cv.notify_all()

    def wait(self, condition, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.cv:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0 or self.judge.lost.is_set():
                    return False
                self.cv.wait(min(left, 0.05))
            return True

    def let_finish(self, k: int) -> None:
        with self.cv:
            self.finished.add(k)
            self.cv.notify_all()

    def handler_gone(self, k: int, timeout: float = 3.0) -> bool:
        """The OS shows client k's handler process ended."""
        pid = self.arrived.get(k, (None,))[0]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not any(p["pid"] == pid and p["alive"] for p in self.judge.processes()):
                return True
            time.sleep(0.03)
        return False

    def reply(self, k: int, timeout: float = 3.0) -> bytes:
        sock = self.socks[k]
        sock.settimeout(timeout)
        got = b""
        try:
            while not got.endswith(b"\n"):
                chunk = sock.recv(64)
                if not chunk:
                    break
                got += chunk
        except OSError:
            pass
        return got

    def sees_eof(self, k: int, timeout: float = 1.5) -> bool:
        sock = self.socks[k]
        sock.settimeout(timeout)
        try:
            eof = sock.recv(64) == b""
        except OSError:
            eof = False
        self.judge.record("mark", "EOF" if eof else "no EOF", name=f"client {k + 1}", pid=-1 - k)
        if eof:
            self.judge.record("state", "exited", name=f"client {k + 1}", pid=-1 - k)
        return eof

    def events(self):
        return self.judge.events()

    def close(self) -> None:
        for sock in self.socks:
            try:
                sock.close()
            except OSError:
                pass


def _student_alive(judge) -> list[dict]:
    return [p for p in judge.processes() if not p["is_stage"] and not p["helper"] and p["alive"]]


def _wait_for_handlers(judge, clients: _Clients, call, n: int, patience: float) -> None:
    """Until all ``n`` handlers arrived; or ``patience`` s after the last arrival with nobody starting up.

    A process that is still starting (running, on a loaded machine) is waited for; one
    that serve has not started yet, because it waits for the first handler to end, is not.
    """
    started = time.monotonic()
    last_change, arrived = started, 0
    while time.monotonic() - started < 30:
        if clients.wait(lambda: len(clients.arrived) >= n or clients.errors, 0.2):
            return
        if call.status == "raised" or clients.stage in [pid for pid, _name, _t in clients.arrived.values()]:
            return
        alive = _student_alive(judge)
        starting = sys.platform != "win32" and any(p["status"] not in ("sleeping", "idle") for p in alive)
        if len(clients.arrived) != arrived or starting:
            last_change, arrived = time.monotonic(), len(clients.arrived)
        elif call.finished.is_set() and not alive and not arrived:
            return                              # serve returned and nothing of it runs: nobody will come
        elif time.monotonic() - last_change >= (patience if arrived else 3 * patience):
            return


def _serve(judge, serve, n: int, order: list[int], patience: float = 4.0) -> Verdict | None:
    """Serve ``n`` clients; once all handlers met, end them in ``order`` (client numbers from 0, accept order).

    The first in ``order`` must let its client see EOF at once; the last outlives the others
    by a while, and serve must not return before it ends.
    """
    clients = _Clients(judge, n)
    text = f"serve(listener, handler, {n})"
    title = f"{text}: the clients, serve and its handler processes"
    call = judge.call(serve, clients.listener, clients.handler, n, name="serve")
    judge.record("state", "running", "serve", name="serve (your process)", pid=clients.stage)
    try:
        _wait_for_handlers(judge, clients, call, n, patience)
        with clients.cv:
            arrived = dict(clients.arrived)
            handlers = set(clients.handlers)
            clients.met = len(arrived) >= n
            clients.gave_up = not clients.met
            clients.cv.notify_all()
        if clients.errors:
            return failed("serve/handler-error", f"a handler started by {text} failed ({clients.errors[0]}): pass it "
                          "the accepted connection, handler(conn).", clients.events(), title=title)
        pids = [pid for pid, _name, _t in arrived.values()]
        if clients.stage in pids:
            return failed("serve/handler-in-parent", f"{text} ran the handler inside its own process: start a "
                          "multiprocessing.Process(target=handler, args=(conn,)) for each connection.",
                          clients.events(), title=title)
        if len(set(pids)) < len(pids):
            return failed("serve/handler-in-parent", f"{text} ran two handlers in one process: start one process "
                          "per connection.", clients.events(), title=title)
        if not arrived:
            if call.status == "raised":
                return _serve_raised(call, text, clients, title)
            return failed("serve/no-handler", f"{text} never ran the handler for a client{_where(judge)}: accept each "
                          "connection and start a process running handler(conn).", clients.events(), title=title)
        if len(arrived) < n and len(handlers) > len(arrived):
            return failed("serve/wrong-connection", f"{text} started {len(handlers)} handler processes, but they "
                          f"served only {len(arrived)} of the {n} clients: several handlers were given the same "
                          "connection; give each handler the connection accept() returned for its client.",
                          clients.events(), title=title)
        if len(arrived) < n:
            first = min(t for _pid, _name, t in arrived.values())
            if call.finished.is_set():
                return failed("serve/too-few-handlers", f"{text} returned after starting "
                              f"{len(arrived)} of {n} handlers: accept n_clients connections and start a handler "
                              "process for each.", clients.events(), title=title)
            waited = time.perf_counter() - first
            return failed("serve/one-at-a-time", f"{text} served the clients one at a time: a handler waited "
                          f"{waited:.0f} s for the others, which had not been started{_where(judge)}; start a process "
                          "for each connection right after accept() and join them all only after the loop.",
                          clients.events(), [(first, first + waited)], title=title)
        for k in range(n):
            if clients.reply(k) != b"hello %d\n" % clients.socks[k].getsockname()[1]:
                return failed("serve/wrong-connection", f"client {k + 1} got no reply from its handler: give each "
                              "handler the connection accept() returned for that client.", clients.events(),
                              title=title)
        *early, last = order
        for k in early:
            clients.let_finish(k)
            if k != early[0]:
                continue
            clients.handler_gone(k)
            if not clients.sees_eof(k):
                start = clients.closed.get(k, time.perf_counter())
                return failed("serve/keeps-connection", f"client {k + 1}, whose handler had closed the connection "
                              f"and ended, saw no EOF while {text} was still serving the others: the parent keeps "
                              "its own copy of each accepted connection, so close it (conn.close()) right after "
                              "starting the handler process.", clients.events(), [(start, start + 1.5)], title=title)
        outlive_from = time.perf_counter()
        call.finished.wait(0.5)                 # the last handler outlives the others
        if call.finished.is_set():
            if call.status == "raised":
                return _serve_raised(call, text, clients, title)
            return failed("serve/no-wait", f"{text} returned while the handler of client {last + 1} was still "
                          "running: join every handler process before returning (any of them may be the last to "
                          "finish).", clients.events(), [(outlive_from, time.perf_counter())], title=title)
        clients.let_finish(last)
        call.wait(5.0)
        if call.status == "hung":
            return failed("serve/hangs", f"{text} did not return within 5 s after every handler had ended"
                          f"{_where(judge)}: accept exactly n_clients connections, then join the handlers and "
                          "return.", clients.events(), title=title)
        if call.status == "raised":
            return _serve_raised(call, text, clients, title)
        deadline = time.monotonic() + 1.5
        left = _student_alive(judge)
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = _student_alive(judge)
        if left:
            return failed("serve/left-running", f"{len(left)} process(es) of yours were still running after {text} "
                          "returned: join every handler process.", clients.events(), title=title)
        return None
    finally:
        if call.finished.is_set():
            judge.record("state", "exited", "returned", name="serve (your process)", pid=clients.stage, at=call.ended)
        with clients.cv:
            clients.gave_up = True
            clients.finished.update(range(n))
            clients.cv.notify_all()
        clients.close()


def _serve_raised(call, text: str, clients: _Clients, title: str) -> Verdict:
    call.wait(0)                               # NotImplementedError: "`serve` is not written yet"
    return failed("serve/raised", f"{text} raised {call.error()}.", clients.events(), title=title)


def _where(judge) -> str:
    where = [line for line in judge.stacks() if "your code" in line][:1]
    return f" ({where[0]})" if where else ""


@check(timeout=40, label="serve")
def check_serve_concurrently(judge, serve) -> Verdict:
    """Three clients at once; the last one accepted is finished first and must see EOF; the middle one ends last."""
    verdict = _serve(judge, serve, 3, order=[2, 0, 1])
    return verdict or passed("3 clients were served at once by 3 handler processes; a finished client saw EOF at "
                             "once; serve waited for the handler that ended last")


@check(timeout=50, label="serve")
def check_serve_waits_for_every_handler(judge, serve) -> Verdict:
    """One client alone; then two clients, and the handler accepted last outlives the other one."""
    verdict = _serve(judge, serve, 1, order=[0]) or _serve(judge, serve, 2, order=[0, 1])
    return verdict or passed("one client alone, then two at once: serve waited for every handler, the one accepted "
                             "last included, and left nothing running")


# --------------------------------------------------------------------------------------
# udp_request

def _reply_for(payload: bytes, size: int) -> bytes:
    head = b"reply:" + payload
    if size <= len(head):
        return head
    return head + b"#" * (size - len(head))


class _UdpServer:
    """The judge's UDP server, on a socket the stage made: it counts, times, drops and answers datagrams."""

    def __init__(self, judge, drop: int, reply_size: int = 0):
        self.judge = judge
        self.sock = judge.take_socket(judge.make("mpcourse.stage:udp_socket"))
        self.addr = self.sock.getsockname()
        self.drop = drop
        self.reply_size = reply_size
        self.datagrams: list[tuple[float, bytes]] = []
        self.reply_delays: list[float] = []             # s from a datagram's arrival to the checker's reply
        self.student = judge.stage_peer.pid if judge.stage_peer else -1
        self.stamped = _stamp_arrivals(self.sock)        # before the student's first datagram can arrive

    def serve(self, call, until: float, stop_after: int | None = None) -> None:
        """Answer until the call ends, ``until`` (monotonic) passes, or ``stop_after`` datagrams came."""
        self.sock.settimeout(0.02)
        while not call.finished.is_set() and time.monotonic() < until:
            if stop_after is not None and len(self.datagrams) >= stop_after:
                return
            try:
                data, ancillary, _flags, source = self.sock.recvmsg(65535, 64 if self.stamped else 0)
            except OSError:
                continue
            now = _arrival(ancillary)
            self.datagrams.append((now, data))
            k = len(self.datagrams)
            self.judge.record("mark", "sends", f"datagram {k}", name="your udp_request", pid=self.student, at=now)
            if k <= self.drop:
                self.judge.record("mark", "drops", f"datagram {k}", name="the checker's server", pid=0)
                continue
            try:
                self.sock.sendto(_reply_for(data, self.reply_size), source)
            except OSError:
                continue
            self.reply_delays.append(time.perf_counter() - now)
            self.judge.record("mark", "answers", f"datagram {k}", name="the checker's server", pid=0)

    def answered_late(self, timeout: float) -> bool:
        """The checker itself was slow (a loaded machine): a reply left after half the student's timeout."""
        return any(delay >= timeout * 0.5 for delay in self.reply_delays)

    def gaps(self) -> list[float]:
        times = [t for t, _d in self.datagrams]
        return [b - a for a, b in zip(times, times[1:])]

    def close(self) -> None:
        self.sock.close()


_SO_TIMESTAMPNS = 35        # Linux (asm-generic): the kernel stamps each datagram as it arrives


def _stamp_arrivals(sock) -> bool:
    """Ask the kernel to stamp each datagram's arrival, so that a judge slow to read (a loaded machine) cannot
    shrink the gaps between a student's resends: two datagrams read back to back once looked 0.00 s apart.

    Call it on the bound socket before anyone sends to it. Linux turns arrival stamps on a moment
    later (deferred work); until then it stamps a datagram when it is read. So the socket sends
    itself probes until one comes back stamped on arrival (CI: a first datagram read 0.5 s late
    was stamped 0.5 s late).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    except OSError:
        return False
    timeout = sock.gettimeout()
    try:
        sock.settimeout(1.0)
        for _ in range(50):
            sock.sendto(b"", sock.getsockname())
            time.sleep(0.02)
            _data, ancillary, _flags, _source = sock.recvmsg(64, 64)
            if time.perf_counter() - _arrival(ancillary) >= 0.01:
                break
    except OSError:
        pass
    try:
        sock.settimeout(0)
        while True:                                   # no probe may be taken for the student's datagram
            sock.recv(64)
    except OSError:
        pass
    finally:
        sock.settimeout(timeout)
    return True


def _arrival(ancillary) -> float:
    """When a datagram arrived, on the perf_counter clock: the kernel's stamp where there is one, else now."""
    for level, kind, value in ancillary:
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(value) >= 16:
            seconds, nanoseconds = struct.unpack("qq", value[:16])
            return time.perf_counter() - max(0.0, time.time() - (seconds + nanoseconds / 1e9))
    return time.perf_counter()


def _udp(judge, udp_request, payload: bytes, timeout: float, retries: int, drop: int, reply_size: int = 0):
    server = _UdpServer(judge, drop, reply_size)
    judge.record("state", "running", "udp_request", name="your udp_request", pid=server.student)
    call = judge.call(udp_request, server.addr, payload, timeout, retries, name="udp_request")
    text = f"udp_request(addr, {payload!r}, timeout={timeout:g}, retries={retries})"
    return server, call, text


UDP_TRIES = 3               # exchanges a check may run when its own server answered too late to count


def _answered_exchange(judge, udp_request, payload: bytes, timeout: float, retries: int, drop: int,
                       serve_for: float, reply_size: int = 0):
    """One exchange with a server that answers after ``drop`` lost datagrams; (server, call, text).

    Where the student's call gave up and the checker's reply had left late (the checker's
    process starved of CPU on a loaded machine), the student is not to blame: the exchange runs
    again, up to ``UDP_TRIES`` times.
    """
    for attempt in range(1, UDP_TRIES + 1):
        server, call, text = _udp(judge, udp_request, payload, timeout, retries, drop, reply_size)
        try:
            server.serve(call, time.monotonic() + serve_for)
        finally:
            server.close()
        call.wait(0)
        if call.status != "raised" or not server.answered_late(timeout) or attempt == UDP_TRIES:
            return server, call, text
        judge.record("mark", "answered late", "so it tries again", name="the checker's server", pid=0)


def _udp_basics(server: _UdpServer, call, text: str, payload: bytes, timeout: float, lost: str) -> Verdict | None:
    events = server.judge.events()
    title = f"{text}: {lost}"
    if any(d != payload for _t, d in server.datagrams):
        bad = next(d for _t, d in server.datagrams if d != payload)
        return failed("udp_request/wrong-payload", f"{text} sent the datagram {_short(bad)}, not the payload "
                      f"{payload!r}: send exactly `payload`.", events, title=title)
    if server.datagrams[1:] and min(server.gaps()) < timeout * 0.5:       # margin: the judge may be slow to read
        gap = min(server.gaps())
        return failed("udp_request/resends-too-soon", f"{text} sent the datagram again after {gap:.2f} s: wait "
                      f"`timeout` ({timeout:g} s) for a reply before each resend.", events, title=title)
    return None


@check(timeout=25, label="udp_request")
def check_udp_request_retries(judge, udp_request) -> Verdict:
    """The first datagram is lost (the server drops it): udp_request must resend after `timeout` s."""
    timeout, retries = 0.4, 2
    server, call, text = _answered_exchange(judge, udp_request, b"ping", timeout, retries, 1, max(8 * timeout, 3.0))
    title = f"{text}: the server drops the first datagram"
    events = judge.events()
    count = len(server.datagrams)
    if call.status == "hung" or call.status == "running":
        if count <= 1:
            return failed("udp_request/no-timeout", f"{text} sent one datagram and, when it was lost (the checker "
                          "drops it on purpose; UDP may lose any datagram), waited for ever: set "
                          "sock.settimeout(timeout) and send it again after each timeout, up to `retries` more "
                          "times.", events, title=title)
        return failed("udp_request/hangs", f"{text} did not return the reply to its datagram {count} "
                      f"{_where(judge)}: return the data recvfrom() gives.", events, title=title)
    if call.status == "raised":
        if call.error_type in ("TimeoutError", "timeout") and count <= 1:
            return failed("udp_request/no-retry", f"{text} gave up when its first datagram was lost although "
                          f"retries={retries}: after each timeout send the datagram again, up to `retries` more "
                          "times, before raising TimeoutError.", events, title=title)
        return failed("udp_request/raised", f"{text} raised {call.error()} when its first datagram was lost.", events,
                      title=title)
    verdict = _udp_basics(server, call, text, b"ping", timeout, "the server drops the first datagram")
    if verdict:
        return verdict
    if call.value != _reply_for(b"ping", 0):
        return failed("udp_request/wrong-reply", f"{text} returned {_short(call.value)}, expected the server's reply "
                      f"{_reply_for(b'ping', 0)!r}: return the data of recvfrom() (not the address).", events,
                      title=title)
    return passed(f"the first datagram was lost; udp_request resent it after {server.gaps()[0]:.2f} s and returned "
                  "the reply")


def _big_reply(judge, udp_request) -> Verdict | None:
    """A reply of 65 507 bytes, the largest UDP datagram: it must come back whole."""
    timeout, retries = 1.0, 1
    payload = b"big?"
    server, call, text = _answered_exchange(judge, udp_request, payload, timeout, retries, 0, 6.0, MAX_UDP)
    events = judge.events()
    title = f"{text}: a {MAX_UDP}-byte reply"
    if call.status != "returned":
        what = "did not return" if call.status in ("hung", "running") else f"raised {call.error()}"
        return failed("udp_request/big-reply-lost", f"{text} {what} although the server answered its first "
                      f"datagram with {MAX_UDP} bytes: receive with recvfrom(65535), which holds any datagram.",
                      events, title=title)
    want = _reply_for(payload, MAX_UDP)
    if call.value == want:
        return None
    if isinstance(call.value, bytes) and want.startswith(call.value):
        return failed("udp_request/truncated-reply", f"{text} returned only {len(call.value)} of the {MAX_UDP} bytes "
                      "of the reply: recvfrom(bufsize) returns at most bufsize bytes of a datagram and the rest is "
                      "lost, so use recvfrom(65535).", events, title=title)
    return failed("udp_request/wrong-reply", f"{text} returned {_short(call.value)}, expected the server's "
                  f"{MAX_UDP}-byte reply.", events, title=title)


@check(timeout=40, label="udp_request")
def check_udp_request_losses(judge, udp_request) -> Verdict:
    """A 65 507-byte reply; the first two datagrams lost, the third answered; then nobody answers at all."""
    verdict = _big_reply(judge, udp_request)
    if verdict:
        return verdict
    timeout, retries = 0.3, 2
    server, call, text = _answered_exchange(judge, udp_request, b"ping", timeout, retries, 2, 4.0)
    events = judge.events()
    title = f"{text}: the server drops the first two datagrams"
    if call.status != "returned":
        count = len(server.datagrams)
        what = "kept waiting" if call.status in ("hung", "running") else f"raised {call.error()}"
        slug = "too-few-tries" if count < retries + 1 else "no-retry"
        return failed(f"udp_request/{slug}", f"{text} sent {count} datagram(s) and {what} when the first two were "
                      f"lost, although retries={retries} allows {retries + 1} tries: send once, then again after "
                      "each timeout, up to `retries` more times.", events, title=title)
    verdict = _udp_basics(server, call, text, b"ping", timeout, "the first two datagrams are lost")
    if verdict:
        return verdict
    if call.value != _reply_for(b"ping", 0):
        return failed("udp_request/wrong-reply", f"{text} returned {_short(call.value)}, expected the server's reply "
                      f"{_reply_for(b'ping', 0)!r}.", events, title=title)

    server, call, text = _udp(judge, udp_request, b"ping", timeout, retries, drop=1000)
    expected = timeout * (retries + 1)
    started = time.monotonic()
    try:
        server.serve(call, started + expected + 3.0, stop_after=retries + 2)
    finally:
        server.close()
    events = judge.events()
    title = f"{text}: nobody answers"
    count = len(server.datagrams)
    if count > retries + 1:
        return failed("udp_request/retries-forever", f"with nobody answering, {text} sent {count} datagrams: send it "
                      f"once, then again after each timeout, {retries + 1} times in all, then raise TimeoutError.",
                      events, title=title)
    call.wait(max(0.0, started + expected + 3.0 - time.monotonic()))
    if call.status in ("hung", "running"):
        return failed("udp_request/no-timeout", f"with nobody answering, {text} was still waiting after "
                      f"{expected + 3.0:g} s: wait `timeout` seconds for each of the 1 + retries tries, then raise "
                      "TimeoutError.", events, title=title)
    if call.status == "returned":
        return failed("udp_request/no-timeout-error", f"with nobody answering, {text} returned {_short(call.value)}: "
                      "raise TimeoutError when no reply comes.", events, title=title)
    if call.error_type not in ("TimeoutError", "timeout"):
        return failed("udp_request/no-timeout-error", f"with nobody answering, {text} raised {call.error()}: raise "
                      "TimeoutError when no reply comes.", events, title=title)
    if count != retries + 1:
        return failed("udp_request/too-few-tries", f"with nobody answering, {text} sent {count} datagram(s): send it "
                      f"once, then again after each timeout, {retries + 1} times in all.", events, title=title)
    verdict = _udp_basics(server, call, text, b"ping", timeout, "nobody answers")
    if verdict:
        return verdict
    if not expected * 0.8 <= call.elapsed <= expected + 3.0:
        return failed("udp_request/wrong-wait", f"with nobody answering, {text} gave up after {call.elapsed:.2f} s; "
                      f"expected about timeout * (retries + 1) = {expected:g} s.", events, title=title)
    return passed(f"a {MAX_UDP}-byte reply came back whole; after two lost datagrams the third got the reply; with "
                  f"nobody answering it sent {retries + 1} datagrams and raised TimeoutError after "
                  f"{call.elapsed:.2f} s")
