"""Record what processes really did, and draw it as a timeline.

Recording: every process appends its events to its own file in a shared folder with one
unbuffered ``os.write``: no lock, no feeder thread, nothing lost when a process is
killed, and the recorder pickles as a folder name, so it travels to children under
every start method. Clocks: ``time.perf_counter_ns`` is system-wide on Linux, macOS
and Windows, so events of different processes line up.

The state model (lecture 01's, one for every picture of the course)
---------------------------------------------------------------------
A process is always running, ready or blocked; a picture colours each row by that, and adds
two more things worth seeing: holding a lock (a critical section) and having exited. Record
exactly these state names, with this ``detail``:

=============  ==========================================  ===========================
record         means                                        ``detail``
=============  ==========================================  ===========================
``running``    a CPU executes its code                      optional, not drawn
``holding``    inside a critical section, holding a lock    the lock's name (``"lock A"``)
``blocked``    waits for something; uses no CPU             **what** it waits for, short:
                                                            ``"lock A"``, ``"get"``, ``"put"``,
                                                            ``"recv"``, ``"join"``, ``"accept"``,
                                                            ``"barrier"``, ``"sleep"``, ...
``ready``      could run, but no CPU is free (only when     optional
               measured: a process cannot see it itself)
``exited``     the process has ended (its row ends here)    optional, e.g. ``"exit code 0"``
=============  ==========================================  ===========================

``holding`` is drawn hatched (the process holds a lock, whether it computes or sleeps
meanwhile); every ``blocked`` bar carries its ``detail`` as its label when it fits. A
``time.sleep`` that stands in for work is ``blocked`` too (``"sleep: cooking"``): a
sleeping process uses no CPU. Older names are still understood and drawn in this model:
``waiting`` (for a lock; detail = the lock) is blocked on that lock, ``sleeping`` is
blocked on ``sleep``, ``querying`` is blocked on ``query``, ``returned`` (a caller's function
returned) ends the row like ``exited``, ``dying after SIGTERM`` is running a SIGTERM
handler; any other name is drawn as blocked, labelled with that name.

``mark(label)`` records an instant (a ``put``, a ``get``); its label is drawn above the row.

Rows
----
One row per process (pid), named by the first name it recorded (``name=`` or its
``multiprocessing`` name). The process named ``MainProcess`` (the notebook's kernel, or
the grader's judge) is drawn as **main process**, always the top row. The others follow
in the order in which they recorded their first event, except that siblings whose names
differ only in a trailing number or capital letter (``clerk-1``, ``clerk-2``, ``cook-A``)
stay together in that order, so a picture's rows do not reshuffle from run to run. So a
check's picture reads: main process, the process running the student's function, then
its children.

Labels never overlap: :func:`layout_labels` puts mark labels in lanes above their row and
drops the ones that find no room; :func:`overlapping_labels` finds colliding text boxes
in any figure, so a test can assert that a picture is readable.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
import time
from collections import namedtuple
from collections.abc import Iterable, Iterator

#: the three states of lecture 01, plus holding (a lock) and exited; their colours
STATE_COLOURS = {
    "running": "#43a047",
    "holding": "#64b5f6",      # drawn hatched: inside a critical section
    "ready": "#fdd835",
    "blocked": "#9575cd",
    "exited": "#eceff1",
}
STATE_LABELS = {
    "running": "running (on a CPU)",
    "holding": "holding a lock (critical section)",
    "ready": "ready (waiting for a CPU)",
    "blocked": "blocked (on what: written on the bar)",
    "exited": "exited",
}
#: older state names, as (state, detail): detail None keeps the recorded detail
LEGACY_STATES = {
    "waiting": ("blocked", None),
    "sleeping": ("blocked", "sleep"),
    "querying": ("blocked", "query"),
    "returned": ("exited", "returned"),
    "dying after SIGTERM": ("running", "SIGTERM handler"),
}
MAIN_ROW = "main process"
LABEL_FONT_SIZE = 8.5
MAX_LANES = 3
DPI = 200            # pixels per inch of the PNG; it is displayed at half that, so it stays sharp


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
        """This process enters ``state`` now: running, holding, blocked (detail: on what), ready, exited."""
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
             highlight_label: str = "overlap", events: list[Event] | None = None,
             **options) -> TimelinePicture:
        """Draw the timeline: one row per process, a colour per state, time in ms (see ``draw_timeline``)."""
        return TimelinePicture(draw_timeline(self.events() if events is None else events,
                                             title=title, highlight=highlight,
                                             highlight_label=highlight_label, **options))


def _remove_folder(folder: str, owner: int) -> None:
    if os.getpid() == owner:          # never from a forked child that inherited the object
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


class TimelinePicture:
    """A drawn timeline; notebooks show it as a sharp PNG, ``.figure`` is the matplotlib Figure.

    The PNG carries the events it was drawn from (a ``mpcourse-timeline`` text chunk), so
    a test can redraw every picture a notebook or a feedback page shows and check it.
    """

    def __init__(self, figure):
        self.figure = figure

    def _repr_png_(self) -> tuple[bytes, dict]:
        png = self.png()
        width, height = _png_size(png)
        return png, {"width": width * 100 // DPI, "height": height * 100 // DPI}   # shown at 100 dpi

    def png(self, embed_events: bool = True) -> bytes:
        """The picture as PNG bytes; ``embed_events=False`` leaves the recorded events out of it."""
        import io

        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=DPI,
                            metadata=_png_metadata(self.figure) if embed_events else {})
        return buffer.getvalue()

    def save(self, path: str) -> None:
        with open(path, "wb") as f:
            f.write(self.png())

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


def canonical_state(state: str, detail: str = "") -> tuple[str, str]:
    """The recorded ``state`` in the one model: (running|holding|ready|blocked|exited, bar label)."""
    if state == "running":
        return "running", ""
    if state in ("holding", "ready", "blocked", "exited"):
        return state, detail
    if state in LEGACY_STATES:
        new, fixed = LEGACY_STATES[state]
        label = detail if fixed is None else fixed
        if state == "waiting" and "lock" not in label.lower():
            label = f"lock {label}".strip()
        return new, label
    return "blocked", f"{state}: {detail}" if detail else state


_SIBLING = re.compile(r"^(.+?)(\d+|[A-Z])$")


def row_name(name: str) -> str:
    """The label of a process's row: ``MainProcess`` is shown as ``main process``."""
    return MAIN_ROW if name == "MainProcess" else name


def row_order(events: list[Event]) -> list[tuple[int, str]]:
    """(pid, row label) from top to bottom: the main process, then by first event, siblings together."""
    first: dict[int, tuple[float, str]] = {}
    for e in events:
        first.setdefault(e.pid, (e.t, e.name))

    def sibling_key(name: str) -> tuple[str, tuple]:
        match = _SIBLING.match(name)
        if not match:
            return name, (0, 0, "")
        stem, suffix = match.groups()
        return stem, (0, int(suffix), "") if suffix.isdigit() else (1, 0, suffix)

    group_start: dict[str, float] = {}
    for t, name in first.values():
        stem = sibling_key(name)[0]
        group_start[stem] = min(group_start.get(stem, t), t)

    def key(pid: int) -> tuple:
        t, name = first[pid]
        stem, suffix = sibling_key(name)
        return (name != "MainProcess", group_start[stem], stem, suffix, t)

    return [(pid, row_name(first[pid][1])) for pid in sorted(first, key=key)]


PlacedLabel = namedtuple("PlacedLabel", "row left width text lane")


def layout_labels(labels: Iterable[tuple[int, float, float, str]], axis_width: float,
                  lanes: int = MAX_LANES, gap: float = 4.0) -> list[PlacedLabel]:
    """Place labels (row, centre x, width, text) in lanes above their row so that none overlap.

    Units are pixels. A label is centred on its x, kept inside [0, axis_width], and put in
    the lowest lane where it clears the label before it by ``gap``; a label that finds no
    lane among ``lanes`` is dropped (its tick stays).
    """
    placed = []
    right_edge: dict[tuple[int, int], float] = {}
    for row, centre, width, text in sorted(labels, key=lambda label: (label[0], label[1])):
        left = min(max(centre - width / 2, 0.0), max(axis_width - width, 0.0))
        for lane in range(lanes):
            if left >= right_edge.get((row, lane), float("-inf")) + gap:
                right_edge[(row, lane)] = left + width
                placed.append(PlacedLabel(row, left, width, text, lane))
                break
    return placed


# geometry of a drawing, in inches (matplotlib places text in points, so it holds at any DPI)
_WIDTH, _BAR, _LANE, _ROW_GAP, _LAYOUT_DPI = 9.0, 0.26, 0.17, 0.14, 100


def draw_timeline(events: list[Event], title: str = "", highlight: Iterable[tuple[float, float]] = (),
                  highlight_label: str = "overlap", width: float = _WIDTH):
    """A matplotlib Figure of the events in the course's state model (see the module docstring).

    matplotlib is imported here, never by the children that record.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    events = sorted(events, key=lambda e: e.t)
    highlight = [(float(a), float(b)) for a, b in highlight]
    fig = Figure(figsize=(width, 2), dpi=_LAYOUT_DPI)
    FigureCanvasAgg(fig)
    fig._mpcourse_drawing = {"events": [list(e) for e in events], "title": title,
                             "highlight": highlight, "highlight_label": highlight_label, "width": width}
    renderer = fig.canvas.get_renderer()

    def text_width(text: str, size: float) -> float:       # inches
        w, _h, _d = renderer.get_text_width_height_descent(text, FontProperties(size=size), ismath=False)
        return w / _LAYOUT_DPI

    title_lines = _wrap(title, lambda s: text_width(s, 10.5), width - 0.4) if title else []
    title_height = 0.12 + 0.2 * len(title_lines)
    if not events:
        fig.set_size_inches(width, title_height + 0.8)
        fig.text(0.5, 0.4, "no events were recorded", ha="center", va="center", fontsize=10)
        _add_title(fig, title_lines, title_height + 0.8)
        return fig

    rows = row_order(events)
    row_of = {pid: i for i, (pid, _name) in enumerate(rows)}
    left_margin = max(text_width(name, 9) for _pid, name in rows) + 0.25
    axis_width = width - left_margin - 0.3
    t0, t_end = events[0].t, events[-1].t
    span_ms = max((t_end - t0) * 1000, 1.0)
    x_min, x_max = -0.01 * span_ms, 1.01 * span_ms
    px_per_ms = axis_width * _LAYOUT_DPI / (x_max - x_min)

    def ms(t: float) -> float:
        return (t - t0) * 1000

    marks = [e for e in events if e.kind == "mark"]
    requests = [(row_of[e.pid], (ms(e.t) - x_min) * px_per_ms, text_width(e.what, LABEL_FONT_SIZE) * _LAYOUT_DPI,
                 e.what) for e in marks]
    placed = layout_labels(requests, axis_width * _LAYOUT_DPI)
    lanes = [0] * len(rows)
    for label in placed:
        lanes[label.row] = max(lanes[label.row], label.lane + 1)
    centres, y = [], 0.06
    for row in range(len(rows)):
        y += lanes[row] * _LANE + _BAR / 2 + 0.04
        centres.append(y)
        y += _BAR / 2 + _ROW_GAP
    axes_height = y

    seen = []
    spans = []
    for span in spans_of(events):
        state, label = canonical_state(span.state, span.detail)
        spans.append((span, state, label))
        if state not in seen:
            seen.append(state)
    handles = [Patch(facecolor=STATE_COLOURS[s], edgecolor="#37474f" if s == "holding" else "none",
                     hatch="///" if s == "holding" else None, label=STATE_LABELS[s])
               for s in STATE_COLOURS if s in seen]
    if marks:
        handles.append(Line2D([], [], color="black", marker="|", linestyle="none", markersize=10,
                              label="an event (named above its row)"))
    if highlight:
        handles.append(Patch(color="red", alpha=0.18, label=highlight_label))
    legend_columns, legend_rows = _legend_grid([h.get_label() for h in handles], lambda s: text_width(s, 8.5),
                                               width - 0.3)
    legend_height = 0.1 + 0.22 * legend_rows
    below = legend_height + 0.55
    height = title_height + axes_height + below
    fig.set_size_inches(width, height)
    ax = fig.add_axes([left_margin / width, below / height, axis_width / width, axes_height / height])
    ax.set_xlim(x_min, x_max)
    ax.set_ylim(axes_height, 0)

    min_width = 1.5 / px_per_ms
    for span, state, label in spans:
        row = row_of[span.pid]
        start, length = ms(span.start), max(ms(span.end) - ms(span.start), min_width)
        ax.barh(centres[row], length, left=start, height=_BAR, color=STATE_COLOURS[state],
                edgecolor="#37474f" if state == "holding" else "white", linewidth=0.6,
                hatch="///" if state == "holding" else None)
        if state == "holding":
            label = f"holds {label}"
        if label and text_width(label, 8) * _LAYOUT_DPI + 8 <= length * px_per_ms:
            ax.text(start + length / 2, centres[row], label, ha="center", va="center", fontsize=8,
                    color="#263238", parse_math=False, clip_on=True,
                    bbox={"facecolor": "white", "alpha": 0.75, "edgecolor": "none", "pad": 1.0})
    for e in marks:
        row = row_of[e.pid]
        ax.vlines(ms(e.t), centres[row] - _BAR / 2 - 0.04, centres[row] + _BAR / 2, color="black", linewidth=1.2)
    for label in placed:
        ax.text(x_min + label.left / px_per_ms, centres[label.row] - _BAR / 2 - 0.04 - label.lane * _LANE,
                label.text, ha="left", va="bottom", fontsize=LABEL_FONT_SIZE, parse_math=False)
    for start, end in highlight:
        ax.axvspan(ms(start), ms(end), color="red", alpha=0.18)
    ax.set_yticks(centres, [name for _pid, name in rows], fontsize=9)
    ax.tick_params(axis="y", length=0)
    ax.tick_params(axis="x", labelsize=8.5)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.set_xlabel("time since the first event (ms)", fontsize=9)
    fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.05 / height), ncol=legend_columns,
               fontsize=8.5, frameon=False, handlelength=1.6, columnspacing=1.2, borderaxespad=0)
    _add_title(fig, title_lines, height)
    return fig


def _wrap(text: str, measure, limit: float) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and measure(f"{lines[-1]} {word}") <= limit:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def _add_title(fig, lines: list[str], height: float) -> None:
    if lines:
        fig.text(0.5, 1 - 0.08 / height, "\n".join(lines), ha="center", va="top", fontsize=10.5,
                 linespacing=1.35, parse_math=False)


def _legend_grid(labels: list[str], measure, limit: float) -> tuple[int, int]:
    """(columns, rows) of a legend whose columns fit in ``limit`` inches."""
    for columns in range(min(len(labels), 4), 0, -1):
        widths = [max(measure(labels[i]) for i in range(c, len(labels), columns)) for c in range(columns)]
        if sum(widths) + columns * 0.55 <= limit:
            return columns, -(-len(labels) // columns)
    return 1, len(labels)


def overlapping_labels(figure) -> list[tuple[str, str]]:
    """Pairs of texts in ``figure`` whose boxes overlap (``"<figure edge>"``: a text cut off).

    Every visible text counts: titles, tick labels, legend entries, labels on bars and
    above rows. An empty list means every label can be read.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    if not isinstance(figure.canvas, FigureCanvasAgg):
        FigureCanvasAgg(figure)
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    hidden = set()
    for ax in figure.axes:
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            slack = (high - low) * 1e-9
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not low - slack <= tick.get_loc() <= high + slack:
                    hidden.update((id(tick.label1), id(tick.label2)))
    boxes = []
    for text in figure.findobj(Text):
        if id(text) in hidden or not text.get_visible() or not text.get_text().strip():
            continue
        box = text.get_window_extent(renderer)
        if text.get_clip_on() and text.axes is not None and not box.overlaps(text.axes.bbox):
            continue
        boxes.append((text.get_text(), box))
    found = []
    edge = figure.bbox
    for i, (text, box) in enumerate(boxes):
        if box.x0 < edge.x0 - 0.5 or box.y0 < edge.y0 - 0.5 or box.x1 > edge.x1 + 0.5 or box.y1 > edge.y1 + 0.5:
            found.append((text, "<figure edge>"))
        for other, other_box in boxes[i + 1:]:
            if min(box.x1, other_box.x1) - max(box.x0, other_box.x0) > 0.5 and \
                    min(box.y1, other_box.y1) - max(box.y0, other_box.y0) > 0.5:
                found.append((text, other))
    return found


PNG_KEY = "mpcourse-timeline"


def _png_metadata(figure) -> dict[str, str]:
    import json

    drawing = getattr(figure, "_mpcourse_drawing", None)
    return {PNG_KEY: json.dumps(drawing, ensure_ascii=True)} if drawing else {}


def _png_size(png: bytes) -> tuple[int, int]:
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def drawing_in_png(png: bytes) -> dict | None:
    """The arguments a timeline PNG was drawn with (its events included), or None for other PNGs.

    ``draw_timeline(**drawing_in_png(png))`` redraws the picture, e.g. to check it with
    ``overlapping_labels``.
    """
    import json
    import zlib

    position = 8
    while position + 8 <= len(png):
        length = int.from_bytes(png[position:position + 4], "big")
        kind = png[position + 4:position + 8]
        body = png[position + 8:position + 8 + length]
        if kind in (b"tEXt", b"zTXt", b"iTXt") and body.startswith(PNG_KEY.encode() + b"\0"):
            value = body[len(PNG_KEY) + 1:]
            if kind == b"zTXt":
                value = zlib.decompress(value[1:])
            elif kind == b"iTXt":
                compressed, rest = value[0], value[2:]
                rest = rest.split(b"\0", 2)[2]           # language tag, translated keyword
                value = zlib.decompress(rest) if compressed else rest
            drawing = json.loads(value.decode("utf-8"))
            drawing["events"] = [Event(*e) for e in drawing["events"]]
            drawing["highlight"] = [tuple(h) for h in drawing["highlight"]]
            return drawing
        position += 12 + length
    return None
