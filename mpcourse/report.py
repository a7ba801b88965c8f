"""``mpcourse-report``: one page for the instructor on how a class did in an assignment.

    mpcourse-report 03_locks                  # -> reports/03_locks.html and reports/03_locks.png
    mpcourse-grade 03_locks --report          # the same, right after grading

Per exercise: the distribution of scores (from nbgrader's gradebook) and the mistakes the
class made most, counted in students by the grader's stable mistake id (``withdraw/no-lock``),
each with its sentence and one example timeline. A student counts once per exercise, for
the first mistake the grader found there (the visible test, which forces the exercise's
central mistake, comes first). The grader leaves, in every failed test
cell of an autograded notebook, a ``display_data`` output whose metadata is
``{"mpcourse": {"exercise", "check", "mistake", "sentence"}}`` and whose data holds the
timeline as ``image/png`` when there is one. Only cells the gradebook says lost points
count, so output a kernel printed into a passed cell changes nothing; every text is
escaped. The HTML is self-contained (pictures embedded), so it can be mailed or archived.
"""
from __future__ import annotations

import argparse
import base64
import binascii
import datetime
import html
import io
import json
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_MISTAKE_ID = re.compile(r"^[\w./:+-]{1,80}$")
_TOP = 5                                 # mistakes per exercise drawn and shown with a picture


@dataclass
class Mistake:
    """One failed check of one student, as the grader described it."""
    exercise: str
    mistake: str
    check: str
    sentence: str
    png: bytes | None
    student: str


@dataclass
class Exercise:
    """An answer cell's results over the class: {student: (score, max)} and its mistakes, most made first."""
    name: str
    scores: dict[str, tuple[float, float]] = field(default_factory=dict)
    mistakes: list[tuple[str, int, Mistake]] = field(default_factory=list)   # (id, students, an example)

    def counts(self) -> dict[str, int]:
        return {mistake: n for mistake, n, _ in self.mistakes}


def summarize(course: Path, assignment: str, db_url: str) -> list[Exercise]:
    """Scores from the gradebook, mistakes from the autograded notebooks, exercises in notebook order."""
    scores, lost = _gradebook(db_url, assignment)
    order: list[str] = []
    found: list[Mistake] = []
    for student in sorted(lost):
        for path in sorted((course / "autograded" / student / assignment).glob("*.ipynb")):
            found += _mistakes_in(path, student, set(scores), lost[student], order)
    order += sorted(set(scores) - set(order))
    students_of: dict[tuple[str, str], dict[str, Mistake]] = defaultdict(dict)
    first: dict[tuple[str, str], str] = {}
    for m in found:              # a student counts once per exercise: the first mistake (its visible test comes first)
        if first.setdefault((m.student, m.exercise), m.mistake) != m.mistake:
            continue
        example = students_of[m.exercise, m.mistake].get(m.student)
        if example is None or (example.png is None and m.png is not None):
            students_of[m.exercise, m.mistake][m.student] = m
    exercises = []
    for name in order:
        ranked = []
        for (exercise, mistake), by_student in students_of.items():
            if exercise == name:
                examples = [by_student[s] for s in sorted(by_student)]
                ranked.append((mistake, len(by_student), next((e for e in examples if e.png), examples[0])))
        ranked.sort(key=lambda item: (-item[1], item[0]))
        exercises.append(Exercise(name, scores[name], ranked))
    return exercises


def _gradebook(db_url: str, assignment: str) -> tuple[dict[str, dict[str, tuple[float, float]]],
                                                      dict[str, set[str]]]:
    """({exercise: {student: (score, max)}}, {student: names of test cells that lost points})."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url) as gb:
        try:
            definition = gb.find_assignment(assignment)
        except MissingEntry:
            raise ValueError(f"the gradebook has no assignment {assignment!r} (run nbgrader generate_assignment)")
        exercises = sorted({c.name for nb in definition.notebooks for c in nb.solution_cells})
        scores: dict[str, dict[str, tuple[float, float]]] = {e: {} for e in exercises}
        lost: dict[str, set[str]] = {}
        for submission in definition.submissions:
            totals = {e: [0.0, 0.0] for e in exercises}
            failed, complete = set(), True
            for nb in submission.notebooks:
                for grade in nb.grades:
                    owner = _owner(grade.name, exercises)
                    if owner is None or not grade.max_score:
                        continue
                    if grade.score is None:              # waiting for a manual grade: not in the report yet
                        complete = False
                        continue
                    totals[owner][0] += grade.score
                    totals[owner][1] += grade.max_score
                    if grade.score < grade.max_score:
                        failed.add(grade.name)
            if complete and submission.notebooks:
                student = submission.student.id
                lost[student] = failed
                for e, (score, max_score) in totals.items():
                    scores[e][student] = (score, max_score)
    if not lost:
        raise ValueError(f"no graded submission of {assignment!r} in the gradebook (run mpcourse-grade first)")
    return scores, lost


def _owner(cell: str, exercises: list[str]) -> str | None:
    owners = [e for e in exercises if cell == e or cell.startswith(e + "_")]
    return max(owners, key=len) if owners else None


def _mistakes_in(path: Path, student: str, exercises: set[str], failed: set[str], order: list[str]) -> list[Mistake]:
    """The grader's mistake outputs in the failed test cells of one autograded notebook."""
    try:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"mpcourse-report: skipping {path}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return []
    found = []
    for cell in cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id")
        if meta.get("solution") and gid in exercises and gid not in order:
            order.append(gid)
        if gid not in failed or meta.get("solution"):
            continue
        for output in cell.get("outputs", []):
            note = output.get("metadata", {}).get("mpcourse") if output.get("output_type") == "display_data" else None
            if not isinstance(note, dict):
                continue
            exercise, mistake = note.get("exercise"), note.get("mistake")
            if exercise not in exercises or _owner(gid, [exercise]) is None:
                continue                                # a note about another exercise: not this cell's
            if not isinstance(mistake, str) or not _MISTAKE_ID.match(mistake):
                continue
            found.append(Mistake(exercise, mistake, str(note.get("check", ""))[:80],
                                 str(note.get("sentence", ""))[:600], _png(output.get("data", {})), student))
    return found


def _png(data: dict) -> bytes | None:
    encoded = data.get("image/png")
    if isinstance(encoded, list):
        encoded = "".join(encoded)
    if not isinstance(encoded, str):
        return None
    try:
        raw = base64.b64decode(encoded, validate=False)
    except (binascii.Error, ValueError):
        return None
    return raw if raw.startswith(_PNG_MAGIC) else None


# ----------------------------------------------------------------------------------
# the picture and the page

def plot(exercises: list[Exercise], assignment: str):
    """One row per exercise: how many students got each score; the mistakes most of them made."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 0.9 + 2.3 * len(exercises)), layout="constrained")
    axes = fig.subplots(len(exercises), 2, squeeze=False, width_ratios=(2, 3))
    for (left, right), exercise in zip(axes, exercises):
        top = max((m for _, m in exercise.scores.values()), default=0)
        counts: dict[float, int] = defaultdict(int)
        for score, _ in exercise.scores.values():
            counts[round(score, 2)] += 1
        values = sorted(set(range(int(top) + 1)) | set(counts))
        left.bar(range(len(values)), [counts.get(v, 0) for v in values], color="#4c72b0")
        left.set_xticks(range(len(values)), [f"{v:g}" for v in values])
        left.set_xlabel(f"points (of {top:g})")
        left.set_ylabel("students")
        left.set_title(exercise.name, loc="left", fontweight="bold")
        left.yaxis.get_major_locator().set_params(integer=True)
        shown = exercise.mistakes[:_TOP]
        if shown:
            bars = right.barh(range(len(shown)), [n for _, n, _ in shown], height=0.6, color="#c44e52")
            right.bar_label(bars, padding=3)
            right.set_yticks(range(len(shown)), [m for m, _, _ in shown])
            right.invert_yaxis()
            right.set_xlabel("students who made the mistake")
            right.xaxis.get_major_locator().set_params(integer=True)
        else:
            right.set_axis_off()
            right.text(0.5, 0.5, "no mistake recorded", ha="center", va="center", transform=right.transAxes)
    students = len(set().union(*(e.scores for e in exercises)))
    fig.suptitle(f"{assignment}: {students} students", fontsize=14)
    return fig


def render(exercises: list[Exercise], assignment: str, picture: bytes) -> str:
    """The self-contained HTML page."""
    esc = html.escape
    students = len(set().union(*(e.scores for e in exercises)))
    parts = [f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{esc(assignment)}: class report</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 66rem; margin: 1.5rem auto; padding: 0 1rem;
       line-height: 1.45; color: #222; }}
img {{ max-width: 100%; height: auto; }}
table {{ border-collapse: collapse; width: 100%; table-layout: fixed; }}
th, td {{ border-top: 1px solid #ddd; padding: .45rem; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; white-space: normal; }}
th.n {{ width: 7rem; }} th.id {{ width: 14rem; }}
.example {{ max-height: 15rem; display: block; margin-top: .4rem; }}
.muted {{ color: #666; }}
</style></head><body>
<h1>{esc(assignment)}: how the class did</h1>
<p class="muted">{students} students graded; report made {datetime.date.today().isoformat()}.
Mistakes are counted in students (a student who made one twice counts once).</p>
<img src="data:image/png;base64,{base64.b64encode(picture).decode()}"
     alt="for each exercise, the score distribution and the most common mistakes">
"""]
    for exercise in exercises:
        marks = list(exercise.scores.values())
        full = sum(1 for score, top in marks if score >= top)
        mean = sum(score for score, _ in marks) / len(marks) if marks else 0.0
        top = max((t for _, t in marks), default=0)
        parts.append(f'<h2 id="{esc(exercise.name)}">{esc(exercise.name)}</h2>\n'
                     f"<p>mean {mean:.1f} of {top:g} points; full marks: {full} of {len(marks)} students.</p>\n")
        if not exercise.mistakes:
            parts.append("<p class=\"muted\">No mistake recorded.</p>\n")
            continue
        parts.append('<table><tr><th class="n">students</th><th class="id">mistake</th>'
                     "<th>what the grader said (one example)</th></tr>\n")
        for mistake, n, example in exercise.mistakes[:_TOP]:
            share = f"{100 * n / len(marks):.0f}%" if marks else ""
            picture_html = ""
            if example.png:
                picture_html = (f'<img class="example" alt="timeline of {esc(mistake)}" '
                                f'src="data:image/png;base64,{base64.b64encode(example.png).decode()}">')
            parts.append(f"<tr><td>{n} ({share})</td><td><code>{esc(mistake)}</code></td>"
                         f"<td>{esc(example.sentence)}{picture_html}</td></tr>\n")
        parts.append("</table>\n")
        rest = exercise.mistakes[_TOP:]
        if rest:
            parts.append('<p class="muted">Also: ' + ", ".join(f"<code>{esc(m)}</code> ({n})" for m, n, _ in rest)
                         + ".</p>\n")
    parts.append("</body></html>\n")
    return "".join(parts)


def write_report(course: Path, assignment: str, db_url: str | None = None,
                 out: Path | None = None) -> tuple[Path, Path]:
    """Write <out>/<assignment>.html and .png (out: the course's reports/); ValueError if nothing is graded."""
    if db_url is None:
        from mpcourse.parallel import course_db_url

        db_url = course_db_url(course)
    exercises = summarize(course, assignment, db_url)
    out = out or course / "reports"
    out.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    plot(exercises, assignment).savefig(buffer, format="png", dpi=100)
    picture = buffer.getvalue()
    png_path, html_path = out / f"{assignment}.png", out / f"{assignment}.html"
    png_path.write_bytes(picture)
    html_path.write_text(render(exercises, assignment, picture), encoding="utf-8")
    return html_path, png_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mpcourse-report", description=(
        "Write a one-page HTML report and a PNG of a graded assignment: scores and the commonest mistakes."))
    parser.add_argument("assignment")
    parser.add_argument("--course", default=".", help="the course folder (with nbgrader_config.py); default: here")
    parser.add_argument("--db", default=None, help="gradebook URL (default: the course's)")
    parser.add_argument("--out", default=None, help="folder for <assignment>.html and .png (default: reports/)")
    args = parser.parse_args(argv)
    course = Path(args.course).resolve()
    if not (course / "nbgrader_config.py").is_file():
        parser.error(f"{course} has no nbgrader_config.py: pass --course")
    try:
        html_path, png_path = write_report(course, args.assignment, args.db, Path(args.out) if args.out else None)
    except ValueError as exc:
        parser.exit(1, f"mpcourse-report: {exc}\n")
    print(f"wrote {html_path} and {png_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
