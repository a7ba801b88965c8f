#!/usr/bin/env bash
# The course's whole test suite: package and grader tests, then every lecture notebook
# re-executed and compared with its stored outputs (nbval, strict) under each start method.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$(dirname "$(python -c 'import sys; print(sys.executable)')"):$PATH"   # nbgrader runs alembic

# one pytest worker more than there are cores: a grading run mostly waits (timeouts, quiet periods,
# children asleep on purpose), so with one per core the cores stood idle about 45% of the time
workers=$(python -c 'import os; print((os.cpu_count() or 1) + 1)')
# xdist would hand the first worker the long tests (conftest.py puts them first) in one chunk, to run one
# after another while the others take the short ones; --maxschedchunk 1 spreads them over all workers
python -m pytest -n "$workers" --maxschedchunk 1 --durations=15 tests "$@"      # slowest tests listed

shopt -s nullglob
notebooks=(notebooks/*.ipynb)
if [ ${#notebooks[@]} -eq 0 ]; then
  echo "no lecture notebooks to validate" >&2
  exit 1
fi
for method in fork spawn forkserver; do
  echo "== lecture notebooks under COURSE_START_METHOD=$method"
  # two notebooks at a time, each in its own kernel (loadscope keeps a notebook's cells in order on one worker)
  COURSE_START_METHOD=$method python -m pytest -p no:cacheprovider -n 2 --dist loadscope --nbval \
    --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg --nbval-cell-timeout=120 notebooks
done
