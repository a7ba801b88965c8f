"""Record what processes really did, and draw it as a timeline.

Every process appends its events to its own file in a shared folder with one
unbuffered ``os.write``: no lock, no feeder thread, nothing lost when a process is
killed, and the recorder pickles as a folder name, so it travels to children under
every start method. Clocks: ``time.perf_counter_ns`` is system-wide on Linux, macOS
and Windows, so events of different processes line up.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import time
from collections import namedtuple
from collections.abc import Iterable, Iterator

#: states a process row can be in, and their colours (others get grey)
STATE_COLOURS = {
    "running": "#4caf50",
    "waiting": "#ff9800",      # waiting for a lock
    "holding": "#1e88e5",      # holding a lock
    "blocked": "#8e24aa",      # blocked in put/get/recv/accept/join
    "sleeping": "#b0bec5",
    "exited": "#eeeeee",
}
STATE_LABELS = {
    "running": "running", "waiting": "waiting for a lock", "holding": "holding a lock",
    "blocked": "blocked (put/get/recv/join)", "sleeping": "sleeping", "exited": "exited",
}


# namedtuples, not dataclasses: dataclasses imports inspect, which every spawned child would pay for
Event = namedtuple("Event", "t pid name kind what detail", defaults=("",))
Event.__doc__ = "One recorded event: t in perf_counter seconds; kind is 'state' (a span starts) or 'mark'."
Span = namedtuple("Span", "name pid state start end detail", defaults=("",))
Span.__doc__ = "A process in one state from start to end (seconds)."


class Timeline:
    """An event recorder usable from any process; ``plot()`` draws one row per process."""

    def __init__(self, folder: str | None = None):
        if folder is None:
            import tempfile
            import weakref

            folder = tempfile.mkdtemp(prefix="mpcourse-timeline-")
            weakref.finalize(self, _remove_folder, folder, os.getpid())   # the creator cleans up
        self.folder = folder
        self._fd: int | None = None
        self._pid: int | None = None
        self._name = ""

    def __getstate__(self):
        return {"folder": self.folder}

    def __setstate__(self, state):
        self.__init__(state["folder"])

    def __repr__(self) -> str:
        return f"Timeline({len(self.events())} events)"

    # -- recording (any process) --------------------------------------------------
    def _write(self, kind: str, what: str, detail: str, name: str | None) -> None:
        now = time.perf_counter_ns()
        pid = os.getpid()
        if self._pid != pid:      # first event of this process (or a forked copy of us)
            path = os.path.join(self.folder, f"{pid}.events")
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._pid = pid
            self._name = multiprocessing.current_process().name
        clean = str(detail).replace("\t", " ").replace("\n", " ")
        os.write(self._fd, f"{now}\t{pid}\t{name or self._name}\t{kind}\t{what}\t{clean}\n".encode())

    def state(self, state: str, detail: str = "", *, name: str | None = None) -> None:
        """This process enters ``state`` now (running, waiting, holding, blocked, sleeping, exited)."""
        self._write("state", state, detail, name)

    def mark(self, label: str, detail: str = "", *, name: str | None = None) -> None:
        """A point event: something happened at this instant (a get, a put, a send)."""
        self._write("mark", label, detail, name)

    @contextlib.contextmanager
    def span(self, state: str, detail: str = "", *, after: str = "running") -> Iterator[None]:
        """``with timeline.span("holding"):`` marks the block; afterwards the process is ``after``."""
        self.state(state, detail)
        try:
            yield
        finally:
            self.state(after)

    # -- reading (the parent) -------------------------------------------------------
    def events(self) -> list[Event]:
        found = []
        if not os.path.isdir(self.folder):
            return found
        for entry in os.listdir(self.folder):
            if not entry.endswith(".events"):
                continue
            with open(os.path.join(self.folder, entry), encoding="utf-8", errors="replace") as f:
                for line in f:
                    parts = line.rstrip("\n").split("\t")
                    if len(parts) == 6:           # a line cut short by a kill is skipped
                        t, pid, name, kind, what, detail = parts
                        found.append(Event(int(t) / 1e9, int(pid), name, kind, what, detail))
        found.sort(key=lambda e: e.t)
        return found

    def spans(self) -> list[Span]:
        return spans_of(self.events())

    def clear(self) -> None:
        for entry in os.listdir(self.folder):
            os.remove(os.path.join(self.folder, entry))

    def remove(self) -> None:
        """Delete the recorded events (the folder)."""
        import shutil

        shutil.rmtree(self.folder, ignore_errors=True)

    def plot(self, title: str = "", highlight: Iterable[tuple[float, float]] = (),
             highlight_label: str = "overlap", events: list[Event] | None = None) -> TimelinePicture:
        """Draw the timeline: one row per process, a colour per state, time in ms."""
        return TimelinePicture(draw_timeline(self.events() if events is None else events,
                                             title=title, highlight=highlight,
                                             highlight_label=highlight_label))


def _remove_folder(folder: str, owner: int) -> None:
    if os.getpid() == owner:          # never from a forked child that inherited the object
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


class TimelinePicture:
    """A drawn timeline; notebooks show it as a PNG, ``.figure`` is the matplotlib Figure."""

    def __init__(self, figure):
        self.figure = figure

    def _repr_png_(self) -> bytes:
        return self.png()

    def png(self) -> bytes:
        import io

        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
        return buffer.getvalue()

    def save(self, path: str) -> None:
        self.figure.savefig(path, dpi=100, bbox_inches="tight")

    def __repr__(self) -> str:
        return "<timeline picture>"


def spans_of(events: list[Event]) -> list[Span]:
    """State events turned into spans; each lasts until the process's next state."""
    if not events:
        return []
    end = events[-1].t
    open_spans: dict[int, Event] = {}
    spans = []
    for e in events:
        if e.kind != "state":
            continue
        if e.pid in open_spans:
            o = open_spans[e.pid]
            spans.append(Span(o.name, o.pid, o.what, o.t, e.t, o.detail))
        open_spans[e.pid] = e
    for o in open_spans.values():
        spans.append(Span(o.name, o.pid, o.what, o.t, end, o.detail))
    return spans


def _row_order(events: list[Event]) -> list[tuple[int, str]]:
    rows: dict[int, str] = {}
    for e in events:
        rows.setdefault(e.pid, e.name)
    return list(rows.items())


def draw_timeline(events: list[Event], title: str = "", highlight: Iterable[tuple[float, float]] = (),
                  highlight_label: str = "overlap"):
    """A matplotlib Figure of the events (matplotlib is imported here, never by children)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    rows = _row_order(events)
    height = 0.6 + 0.45 * max(len(rows), 1)
    fig = Figure(figsize=(8, height + 0.9), layout="constrained")
    ax = fig.add_subplot()
    if not events:
        ax.text(0.5, 0.5, "no events were recorded", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    t0 = events[0].t
    row_of = {pid: i for i, (pid, _name) in enumerate(rows)}
    seen_states = []
    for span in spans_of(events):
        colour = STATE_COLOURS.get(span.state, "#9e9e9e")
        if span.state not in seen_states:
            seen_states.append(span.state)
        width = max((span.end - span.start) * 1000, 0.05)
        ax.barh(row_of[span.pid], width, left=(span.start - t0) * 1000, height=0.6,
                color=colour, edgecolor="none")
    marks = [e for e in events if e.kind == "mark"]
    for e in marks:
        ax.plot([(e.t - t0) * 1000], [row_of[e.pid]], marker="|", color="black", markersize=14)
        ax.annotate(e.what, ((e.t - t0) * 1000, row_of[e.pid] + 0.32), fontsize=7, ha="center")
    handles = [Patch(color=STATE_COLOURS.get(s, "#9e9e9e"), label=STATE_LABELS.get(s, s)) for s in seen_states]
    for start, end in highlight:
        ax.axvspan((start - t0) * 1000, (end - t0) * 1000, color="red", alpha=0.18)
    if highlight:
        handles.append(Patch(color="red", alpha=0.18, label=highlight_label))
    ax.set_yticks(range(len(rows)), [name for _pid, name in rows])
    ax.invert_yaxis()
    ax.set_xlabel("time since the first event (ms)")
    ax.set_ylim(len(rows) - 0.4, -0.8)
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4), fontsize=8,
               frameon=False)
    if title:
        ax.set_title(title)
    return fig
