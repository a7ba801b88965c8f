"""Child-process functions of lecture 07_sockets (套接字 sockets): TCP framing, UDP, a concurrent server.

Everything listens on 127.0.0.1 with port 0, so the operating system picks a free port
and the lecture never collides with another program. Children never print: they send
what they received back through a queue and record their states on a Timeline.
"""
from __future__ import annotations

import socket
import struct
import time
from multiprocessing.queues import Queue

from ..timeline import Timeline

HOST = "127.0.0.1"
HEADER = struct.Struct("!I")          # 4 bytes, unsigned, big-endian ("network byte order")


# --- length-prefix framing -----------------------------------------------------------

def send_msg(sock: socket.socket, data: bytes) -> None:
    """Send one message: its length as 4 big-endian bytes, then the payload."""
    sock.sendall(HEADER.pack(len(data)) + data)


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    """Read exactly ``n`` bytes: ``recv(n)`` may return fewer, so loop until they are all here."""
    chunks, left = [], n
    while left:
        chunk = sock.recv(left)
        if not chunk:                                    # b"": the peer closed the connection
            raise ConnectionError(f"connection closed with {left} of {n} bytes missing")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def recv_msg(sock: socket.socket) -> bytes:
    """Read one message sent by ``send_msg``: exactly 4 header bytes, then exactly that many bytes."""
    (length,) = HEADER.unpack(recv_exactly(sock, HEADER.size))
    return recv_exactly(sock, length)


# --- TCP is a byte stream -------------------------------------------------------------

def tcp_recv_on_cue(port_q: Queue, cues: Queue, n_reads: int, results: Queue, tl: Timeline) -> None:
    """A TCP server that calls ``recv(1024)`` only when the parent says so (one cue per call),
    so the parent decides what has arrived by then. Reports what each ``recv`` returned."""
    tl.state("running")
    with socket.create_server((HOST, 0)) as listener:
        port_q.put(listener.getsockname()[1])
        with tl.span("blocked", "accept"):
            conn, _addr = listener.accept()
        with conn:
            for _ in range(n_reads):
                with tl.span("blocked", "waits for the cue"):
                    cues.get()
                data = conn.recv(1024)
                tl.mark(f"recv {len(data)} B")
                results.put(data)
    tl.state("exited")


def tcp_recv_messages(port_q: Queue, n: int, results: Queue, tl: Timeline) -> None:
    """A TCP server that reads ``n`` length-prefixed messages from one client; reports them."""
    tl.state("running")
    with socket.create_server((HOST, 0)) as listener:
        port_q.put(listener.getsockname()[1])
        with tl.span("blocked", "accept"):
            conn, _addr = listener.accept()
        messages = []
        with conn:
            for _ in range(n):
                with tl.span("blocked", "recv"):
                    messages.append(recv_msg(conn))
                tl.mark("message")
    results.put(messages)
    tl.state("exited")


# --- UDP: datagrams ------------------------------------------------------------------

def udp_recv_on_cue(port_q: Queue, cues: Queue, n: int, results: Queue) -> None:
    """A UDP receiver that waits for the parent's cue, then reads ``n`` datagrams: each ``recvfrom``
    returns one whole datagram, however many are waiting."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        port_q.put(sock.getsockname()[1])
        cues.get()
        results.put([sock.recvfrom(65535)[0] for _ in range(n)])


def udp_server_losing_first(port_q: Queue, n: int, tl: Timeline) -> None:
    """A UDP server that answers ``n`` datagrams with their upper-case copy, but "loses" the first
    one (drops it without a reply), as a network may: the client must time out and resend."""
    tl.state("running")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        port_q.put(sock.getsockname()[1])
        for i in range(n + 1):
            with tl.span("blocked", "recvfrom"):
                data, addr = sock.recvfrom(65535)         # no accept(): any client, any time
            if i == 0:
                tl.mark("dropped (lost)")
                continue
            sock.sendto(data.upper(), addr)               # reply to whoever sent it
            tl.mark("reply")
    tl.state("exited")


# --- a TCP server that serves clients concurrently -------------------------------------

def handle_client(conn: socket.socket, work: float, tl: Timeline) -> None:
    """Serve one client: read its request, work on it for ``work`` s, answer in upper case.

    Called in the server process (serving clients one at a time) or by ``serve_in_child``.
    """
    tl.state("running")
    with conn:
        with tl.span("blocked", "recv"):
            request = recv_msg(conn)
        tl.state("blocked", "sleep: handling")
        time.sleep(work)                                  # the slow part of serving
        send_msg(conn, request.upper())
        tl.mark("reply")


def serve_in_child(conn: socket.socket, work: float, tl: Timeline) -> None:
    """A handler process: serve the one client on ``conn``, then exit. One per connection,
    so clients are served at the same time."""
    handle_client(conn, work, tl)
    tl.state("exited")


def tcp_client(port: int, request: bytes, results: Queue, tl: Timeline) -> None:
    """A client: connect, send one request, wait for the reply, report it."""
    tl.state("running")
    with socket.create_connection((HOST, port)) as sock:
        send_msg(sock, request)
        with tl.span("blocked", "recv: the reply"):
            reply = recv_msg(sock)
    results.put(reply)
    tl.state("exited")
