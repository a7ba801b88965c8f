"""Every mistake id a check can report is shown failing on a wrong answer somewhere in the tests.

A check reports a failure with ``failed("<exercise>/<slug>", "<sentence>", ...)``; the slug
is the stable id class reports count. A check that cannot fail is a defect, so each id
declared in ``mpcourse/checks/*.py`` must appear in a test: as a ``"x/y"`` string in
``tests/*.py`` (the direct check tests name the mistake each case must fail with), or on
the ``# mistake:`` line of a corpus file (``tests/corpus/<assignment>/*.py``, graded end to
end). Ids built at run time (``f"pipeline/{slug}"``) are not declared here. This reads files
only: no process is started.
"""
from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
CHECKS = TESTS.parent / "mpcourse" / "checks"

#: ``failed("x/y"`` with a literal id (an f-string id starts with f" and is not matched)
DECLARED = re.compile(r'\bfailed\(\s*"([a-z0-9_]+/[a-z0-9-]+)"')
QUOTED = re.compile(r'"([a-z0-9_]+/[a-z0-9-]+)"')
MISTAKE_LINE = re.compile(r"^# mistake:(.*)$", re.M)

#: ids shown failing nowhere on purpose, each with its reason. Only a mistake whose one way to be
#: provoked costs a check's whole time limit (a hang) belongs here, or one no answer can cause.
NOT_SHOWN: dict[str, str] = {}


def declared_ids() -> dict[str, str]:
    """{mistake id: the checks module that declares it}."""
    found: dict[str, str] = {}
    for path in sorted(CHECKS.glob("*.py")):
        for mistake in DECLARED.findall(path.read_text(encoding="utf-8")):
            found.setdefault(mistake, path.name)
    return found


def shown_ids() -> set[str]:
    """The ids a test names: quoted in a test module (not this one), or on a corpus file's ``# mistake:`` line."""
    shown: set[str] = set()
    for path in TESTS.glob("*.py"):
        if path.name != Path(__file__).name:
            shown |= set(QUOTED.findall(path.read_text(encoding="utf-8")))
    for path in TESTS.glob("corpus/*/*.py"):
        for line in MISTAKE_LINE.findall(path.read_text(encoding="utf-8")):
            shown |= set(line.split())
    return shown


def test_every_declared_mistake_id_is_shown_failing_in_a_test():
    declared = declared_ids()
    assert len(declared) > 100, "the pattern no longer finds the checks' failed(...) calls"
    missing = sorted(set(declared) - shown_ids() - set(NOT_SHOWN))
    assert missing == [], ("mistake ids no test shows failing (add a wrong answer that fails with each, or list "
                           "it in NOT_SHOWN with the reason): " +
                           ", ".join(f"{m} ({declared[m]})" for m in missing))


def test_the_ids_left_out_are_still_declared_and_still_not_shown():
    declared = declared_ids()
    assert set(NOT_SHOWN) <= set(declared), f"no check declares {sorted(set(NOT_SHOWN) - set(declared))} any more"
    assert not set(NOT_SHOWN) & shown_ids(), "a test shows it now: take it off NOT_SHOWN"
