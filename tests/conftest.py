import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))   # tests import course.py, student_code.py


#: rough minutes of the longest tests on an idle 2-core machine (CI: started first, so that the
#: two workers finish together instead of one waiting for the other's last long test)
LONGEST_FIRST = ("test_hostile_submissions", "test_corpus_is_graded_as_expected", "test_a_tls_cluster",
                 "test_parallel_gradebook", "test_exchange_round_trip", "test_a_postgresql_gradebook",
                 "test_browser", "test_release_is_what", "test_attackers_win")


def pytest_collection_modifyitems(session, config, items):
    def rank(item) -> int:
        name = item.nodeid.rsplit("::", 1)[-1]
        module = item.nodeid.split("::", 1)[0]
        for i, prefix in enumerate(LONGEST_FIRST):
            if name.startswith(prefix) or module.endswith(prefix + ".py"):
                return i
        return len(LONGEST_FIRST)

    items.sort(key=rank)
