"""The code passes ruff with the project's settings (pyproject.toml), so style never drifts."""
from __future__ import annotations

import subprocess
import sys

from course import REPO


def test_ruff_finds_nothing():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "mpcourse", "tests", "scripts",
                             "nbgrader_config.py"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
