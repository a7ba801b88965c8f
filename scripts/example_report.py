"""Make docs/example-report/: the class report of an assignment's corpus, graded as an instructor would.

    python scripts/example_report.py                 # 03_locks
    python scripts/example_report.py 06_producer_consumer

Builds a scratch course from the repository's sources, hands in every file of
``tests/corpus/<assignment>/`` as one student, grades them with ``mpcourse-grade
<assignment> --report`` (sandboxed, on a local Dask cluster) and copies the page and its
picture to ``docs/example-report/``. Each student's name is its corpus file, so the
example says which answer made which mistake.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from course import corpus, make_course, nbgrader, submit  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("assignment", nargs="?", default="03_locks")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "example-report")
    args = parser.parse_args(argv)
    if not (REPO / "source" / args.assignment).is_dir():
        parser.error(f"no assignment {args.assignment!r} in source/")
    with tempfile.TemporaryDirectory(prefix="mpcourse-report-") as tmp:
        course = make_course(Path(tmp), [args.assignment])
        submit(course, args.assignment, corpus(args.assignment))
        run = nbgrader(course, args.assignment, "--course", str(course), "--report", "--quiet",
                       command="mpcourse.parallel", check=False, timeout=3600)
        reports = course / "reports"
        if run.returncode != 0 or not (reports / f"{args.assignment}.html").is_file():
            print(run.stdout[-3000:] + run.stderr[-3000:], file=sys.stderr)
            return 1
        args.out.mkdir(parents=True, exist_ok=True)
        for suffix in (".html", ".png"):
            shutil.copyfile(reports / f"{args.assignment}{suffix}", args.out / f"{args.assignment}{suffix}")
    print(f"wrote {args.out / args.assignment}.html and .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
