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
