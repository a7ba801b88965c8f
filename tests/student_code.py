"""Load answers written as text (the corpus format) into functions, as a notebook cell would."""
from __future__ import annotations

import re
from pathlib import Path

SECTION = re.compile(r"^# %% (\S+)\s*$", re.M)


def sections(path: Path) -> dict[str, str]:
    """{grade_id: source} of one corpus file."""
    text = path.read_text(encoding="utf-8")
    parts = SECTION.split(text)
    return {parts[i]: parts[i + 1].strip() + "\n" for i in range(1, len(parts), 2)}


def define(source: str) -> dict:
    """Run cell source in a fresh namespace named __main__, as a notebook kernel does."""
    namespace = {"__name__": "__main__"}
    exec(compile(source, "<student cell>", "exec"), namespace)
    return namespace


def expect_verdict(check_fn, answer, phrase: str | None, start_method: str) -> None:
    """Call ``check_fn(answer)`` under ``start_method``: it passes when ``phrase`` is None, else fails saying it."""
    import multiprocessing

    import pytest
    from mpcourse.checks import CheckFailed

    old = multiprocessing.get_start_method()
    multiprocessing.set_start_method(start_method, force=True)
    try:
        if phrase is None:
            check_fn(answer)
        else:
            with pytest.raises(CheckFailed) as failure:
                check_fn(answer)
            assert phrase in str(failure.value), f"{start_method}: {failure.value}"
    finally:
        multiprocessing.set_start_method(old, force=True)
    assert multiprocessing.active_children() == []
