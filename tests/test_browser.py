"""The student's and the instructor's loop in a real browser: JupyterLab driven by headless Chromium.

1. The start page opens rendered; lecture 01, cleared and then restarted and run to the
   end, shows no error and draws its timelines.
2. A student fetches 03_locks from the Assignment List, types a ``withdraw`` without a
   lock and runs its test cell: the failure sentence and the timeline appear. They type the
   fix: the test passes. Validate says success; Submit hands it in.
3. The instructor opens Formgrader, collects and autogrades that submission, sees its
   score, generates feedback and opens it: the failure sentence fits the page width.

The test starts its own JupyterLab (the README's ``jupyter lab START.ipynb``) on a scratch
copy of the course with its own nbgrader exchange, and stops it by pid. Chromium is
Debian's (``/usr/bin/chromium``, or ``MPCOURSE_CHROMIUM``), driven by Playwright through
``executable_path``. Every step leaves a screenshot in ``artifacts/browser/`` (or
``MPCOURSE_ARTIFACTS``), with the server's log, which must hold no configuration warning.
"""
from __future__ import annotations

import getpass
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from course import CORPUS, FAST_GRADING, REPO, RUN_MARKER, environment, read_student
from playwright.sync_api import expect, sync_playwright

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("MPCOURSE_CHROMIUM", "/usr/bin/chromium")
# the machine's network may be closed: without these Chromium stalls on refused connections
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(os.environ.get("MPCOURSE_ARTIFACTS", REPO / "artifacts" / "browser"))
VIEWPORT = {"width": 1280, "height": 800}
COURSE_FILES = ["nbgrader_config.py", "START.ipynb", "notebooks", "release", "scripts/course_setup.py",
                "source/03_locks"]
# the answers typed in scenario 2: the fix for withdraw is the model answer; book_ticket holds
# its lock around the read-only query, which passes the visible test but loses a hidden point,
# so that the feedback of scenario 3 has a sentence to show
MODEL = read_student(CORPUS / "03_locks" / "reference.py").sections
UNLOCKED_WITHDRAW = read_student(CORPUS / "03_locks" / "unlocked_withdraw.py").sections["withdraw"]
COARSE_BOOK_TICKET = read_student(CORPUS / "03_locks" / "coarse_ticket_lock.py").sections["book_ticket"]
LONG = 180_000      # ms: Validate, autograde and feedback run whole notebooks (on a busy machine)
ACTIVE = re.compile(r"\bjp-mod-active\b")
expect.set_options(timeout=60_000)     # JupyterLab on a loaded 2-core machine: seconds, not milliseconds


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    log: Path

    def address(self, path: str, query: str = "") -> str:
        return f"{self.url}/{path.lstrip('/')}?{query + '&' if query else ''}token={self.token}"


def snap(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kill_everything_tagged(pid: int, marker: str) -> None:
    from mpcourse.runner import kill_tree

    kill_tree(pid, token=marker, variable=RUN_MARKER)


@pytest.fixture(scope="module")
def marker() -> str:
    """Tags (environment RUN_MARKER) every process this module starts: server, kernels, browser."""
    return uuid.uuid4().hex


def _course_setup():
    """scripts/course_setup.py, the README's set-up step, as a module."""
    spec = importlib.util.spec_from_file_location("course_setup", REPO / "scripts" / "course_setup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _copy_course(root: Path) -> None:
    for name in COURSE_FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        copy = shutil.copytree if (REPO / name).is_dir() else shutil.copy
        copy(REPO / name, root / name)


def _set_up_as_the_instructor(root: Path) -> None:
    """03_locks in the gradebook (Formgrader grades it), every assignment released into the exchange."""
    from nbgrader.apps import NbGraderAPI

    setup = _course_setup()
    generated = NbGraderAPI(config=setup.load_config(root)).generate_assignment("03_locks")
    assert generated["success"], generated.get("log", "") + generated.get("error", "")
    assert setup.release_all(root) == 0


@pytest.fixture(scope="module")
def lab(marker, tmp_path_factory):
    """``jupyter lab START.ipynb`` in a scratch copy of the course, with a private Jupyter home; stopped by pid.

    The instructor's set-up runs in this process while JupyterLab starts.
    """
    course = tmp_path_factory.mktemp("browser") / "course"
    _copy_course(course)
    home = tmp_path_factory.mktemp("jupyter-home")
    settings = home / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    # no "get notified about Jupyter news?" pop-up over the screenshots, no update check
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = environment()
    env.update(FAST_GRADING)
    env.update(JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"))
    env[RUN_MARKER] = marker
    port, token = _free_port(), uuid.uuid4().hex
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_path = ARTIFACTS / f"jupyterlab-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.log"
    with open(log_path, "w", encoding="utf-8") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "jupyter", "lab", "START.ipynb", "--no-browser", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
             "--ServerApp.allow_root=True"],
            cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        lab = Lab(f"http://127.0.0.1:{port}", token, course, log_path)
        try:
            _set_up_as_the_instructor(course)
            _wait_until_up(lab, server)
            yield lab
        finally:
            server.terminate()                   # shuts its kernels down
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            _kill_everything_tagged(server.pid, marker)


def _wait_until_up(lab: Lab, server: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"JupyterLab exited with {server.returncode}: see {lab.log}")
        try:
            with urllib.request.urlopen(lab.address("/api/status"), timeout=5) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"JupyterLab did not answer in {timeout:.0f} s: see {lab.log}")


@pytest.fixture(scope="module")
def browser(marker, tmp_path_factory):
    """Debian's Chromium, headless, with a fresh user-data dir."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"no Chromium at {CHROMIUM}: `apt-get install chromium fonts-noto-cjk` "
                    "(or set MPCOURSE_CHROMIUM to a Chromium binary)")
    driver = sync_playwright().start()
    context = None
    try:
        context = driver.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_FLAGS, viewport=VIEWPORT, env={**os.environ, RUN_MARKER: marker})
        context.set_default_timeout(60_000)
        yield context
    finally:
        if context is not None:
            context.close()
        driver.stop()


@pytest.fixture
def page(browser, lab, request):
    page = browser.new_page()
    try:
        yield page
    finally:
        snap(page, f"last-{request.node.name}")     # where the test ended, passed or not
        page.close()


# ------------------------------------------------------------------------------ helpers
def open_start_page(page, lab: Lab) -> None:
    page.goto(lab.address("/lab/tree/START.ipynb", "reset"))       # reset: no tabs left from another test
    expect(notebook(page).locator(".jp-RenderedMarkdown h1").first).to_contain_text("start here")


def notebook(page):
    """The notebook in the current tab."""
    return page.locator(".jp-NotebookPanel:visible")


def menu(page, *path: str) -> None:
    page.get_by_role("menuitem", name=path[0], exact=True).click()
    for name in path[1:]:
        page.locator(".lm-Menu").get_by_role("menuitem", name=name, exact=True).click()


def wait_for_kernel(page, name: str) -> None:
    """The status bar, showing the notebook ``name``, says its kernel is connected and idle.

    Neither the toolbar's execution indicator (it says "idle" from the moment it is drawn) nor
    the status bar alone (it may still show the notebook the link was clicked in) is proof: a
    cell run before the kernel has connected is silently not run (two CI runs: "[ ]" for 180 s).
    """
    status = page.locator("#jp-main-statusbar")
    expect(status).to_contain_text(re.compile(r"\|\s*Idle[\s\S]*" + re.escape(name)), timeout=LONG)


def select(cell) -> None:
    """Make ``cell`` the active one: a click that lands while JupyterLab lays the notebook out is lost."""
    for _ in range(10):
        cell.locator(".jp-InputArea-prompt").click()
        try:
            expect(cell).to_have_class(ACTIVE, timeout=3_000)
            return
        except AssertionError:
            continue
    expect(cell).to_have_class(ACTIVE)


def run(page, cell) -> None:
    """Run the selected ``cell`` with the toolbar's ▶ (Shift+Enter depends on where the focus is) and wait.

    A run that JupyterLab drops (the prompt stays "[ ]" and the next cell is selected: no kernel
    yet, as it judged) is tried again, a few times, after selecting the cell again.
    """
    prompt = cell.locator(".jp-InputArea-prompt")
    for _ in range(3):
        expect(cell, "the cell to run is not the active one").to_have_class(ACTIVE)
        before = prompt.text_content()
        notebook(page).locator(".jp-Toolbar [data-command='notebook:run-cell-and-select-next']").click()
        try:
            expect(prompt).not_to_have_text(before, timeout=15_000)
            break
        except AssertionError:
            if before.strip() != "[ ]:" or ACTIVE.search(cell.get_attribute("class") or ""):
                raise                                 # it may be running: never run a cell twice
            select(cell)
    expect(prompt).not_to_have_text(before, timeout=LONG)
    expect(prompt).to_have_text(re.compile(r"\[\d+\]"), timeout=LONG)


def run_answer_and_its_test(page, name: str, code: str):
    """Type ``code`` into the answer cell that defines ``name``, run it and the test cell below it."""
    cells = notebook(page).locator(".jp-Cell")
    answer = cells.filter(has_text=re.compile(rf"def {name}\(")).first
    test = answer.locator("xpath=following-sibling::div[contains(@class, 'jp-Cell')][1]")
    answer.locator(".cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(code)      # no auto-indent, no auto-closed brackets: the text as written
    run(page, answer)                    # ... and the test cell below is selected next
    run(page, test)
    test.scroll_into_view_if_needed()
    return test


def errors_in(locator):
    return locator.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")


# ----------------------------------------------------------------------------- scenarios
def test_start_page_opens_rendered_and_lecture_01_runs_with_timelines(page, lab):
    open_start_page(page, lab)
    for link in notebook(page).locator(".jp-RenderedMarkdown a").all():
        if link.get_attribute("href", timeout=1000).startswith("notebooks/"):
            expect(link).to_be_visible()
    snap(page, "1-1-start-page")

    notebook(page).get_by_role("link", name="Processes (进程)").click()
    expect(page.get_by_role("tab", name="01_processes.ipynb")).to_be_visible()
    wait_for_kernel(page, "01_processes.ipynb")
    lecture = notebook(page)
    menu(page, "Edit", "Clear Outputs of All Cells")
    expect(lecture.locator(".jp-RenderedImage img")).to_have_count(0)
    menu(page, "Kernel", "Restart Kernel and Run All Cells…")
    page.locator(".jp-Dialog .jp-mod-accept").click()
    prompts = lecture.locator(".jp-CodeCell .jp-InputArea-prompt")
    expect(prompts.filter(has_text="[*]").first).to_be_visible(timeout=LONG)       # queued and running
    expect(prompts.filter(has_text="[*]")).to_have_count(0, timeout=LONG)          # all done
    wait_for_kernel(page, "01_processes.ipynb")
    counts = prompts.all_text_contents()       # text_content: off-screen cells are not laid out
    assert all(re.fullmatch(r"\[\d+\]:", text) for text in counts), f"cells that did not run: {counts}"
    expect(errors_in(lecture)).to_have_count(0)
    images = lecture.locator(".jp-RenderedImage img")
    assert images.count() >= 1
    images.first.scroll_into_view_if_needed()
    assert images.first.evaluate("img => img.naturalWidth") > 100      # a real picture, decoded
    snap(page, "1-2-lecture-01-timeline")


def test_student_fetches_fails_fixes_validates_submits_and_is_graded(page, lab):
    release = (lab.root / "release" / "03_locks" / "03_locks.ipynb").read_bytes()
    student = getpass.getuser()

    # -- the student: Assignment List, Fetch -------------------------------------------
    open_start_page(page, lab)
    menu(page, "Nbgrader", "Assignment List")
    released = page.locator("#released_assignments_list > .list_item", has_text="03_locks")
    expect(released).to_be_visible()
    snap(page, "2-1-assignment-list")
    released.get_by_role("button", name="Fetch").click()
    fetched = page.locator("#fetched_assignments_list > .list_item", has_text="03_locks")
    expect(fetched).to_be_visible()
    working_copy = lab.root / "py-multiprocessing" / "03_locks" / "03_locks.ipynb"
    assert working_copy.is_file(), "Fetch did not make the working copy"

    page.get_by_role("tab", name="START.ipynb").click()
    notebook(page).get_by_role("link", name="py-multiprocessing/03_locks").click()
    expect(page.get_by_role("tab", name="03_locks.ipynb")).to_be_visible()
    wait_for_kernel(page, "03_locks.ipynb")
    setup = notebook(page).locator(".jp-CodeCell").filter(has_text="import mpcourse").first
    select(setup)
    run(page, setup)
    expect(errors_in(setup)).to_have_count(0)

    # -- a withdraw without a lock: the sentence and the timeline ------------------------
    test = run_answer_and_its_test(page, "withdraw", UNLOCKED_WITHDRAW)
    error = errors_in(test)
    expect(error).to_have_count(1)
    sentence = error.text_content()
    print(f"withdraw without a lock: {sentence!r}")
    assert "withdraw" in sentence
    expect(test.locator(".jp-RenderedImage img"), f"no timeline above: {sentence}").to_have_count(1)
    snap(page, "2-2-withdraw-without-lock-fails")

    # -- the fix: the test passes ----------------------------------------------------------
    test = run_answer_and_its_test(page, "withdraw", MODEL["withdraw"])
    expect(errors_in(test)).to_have_count(0)
    passed = test.locator(".jp-OutputArea").text_content()
    print(f"withdraw's test printed after the fix: {passed!r}")
    assert not passed.strip() or "✓" in passed, passed
    snap(page, "2-3-withdraw-fixed-passes")

    for name, code in (("book_ticket", COARSE_BOOK_TICKET), ("transfer", MODEL["transfer"])):
        expect(errors_in(run_answer_and_its_test(page, name, code))).to_have_count(0)

    # -- Validate, then Submit ---------------------------------------------------------------
    page.keyboard.press("Control+s")
    expect(page.get_by_role("tab", name="03_locks.ipynb")).not_to_have_class(re.compile("jp-mod-dirty"))
    notebook(page).locator(".jp-Toolbar").get_by_role("button", name="Validate").click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("Success! Your notebook passes all the tests.", timeout=LONG)
    snap(page, "2-4-validate-success")
    dialog.locator(".jp-mod-accept").click()
    assert (lab.root / "release" / "03_locks" / "03_locks.ipynb").read_bytes() == release, \
        "the committed release/ changed"

    page.get_by_role("tab", name="Assignments").click()
    fetched.get_by_role("button", name="Submit").click()
    expect(page.locator("#submitted_assignments_list > .list_item", has_text="03_locks").first).to_be_visible(
        timeout=LONG)
    snap(page, "2-5-submitted")
    inbound = lab.root / "exchange" / "py-multiprocessing" / "inbound"
    handed_in = list(inbound.glob(f"{student}+03_locks+*/03_locks.ipynb"))
    assert handed_in, f"nothing handed in under {inbound}"

    # -- the instructor: Formgrader collects and autogrades ------------------------------
    page.get_by_role("tab", name=re.compile("File Browser")).click()     # fold it away: room for the tables
    menu(page, "Nbgrader", "Formgrader")
    formgrader = page.frame_locator("iframe[src*='formgrader']").first
    assignment = formgrader.locator("#main-table tr", has_text="03_locks")
    expect(assignment).to_be_visible()
    snap(page, "3-1-formgrader")
    modal = formgrader.locator("#success-modal")
    assignment.locator("td.collect a").click()
    expect(modal).to_contain_text("Successfully collected", timeout=LONG)
    modal.get_by_role("button", name="OK").click()
    expect(modal).to_be_hidden()
    assert (lab.root / "submitted" / student / "03_locks" / "03_locks.ipynb").is_file()

    expect(assignment.locator("td.num-submissions")).to_have_text("1")
    assignment.locator("td.num-submissions a").click()
    submission = formgrader.locator("#main-table tr", has_text=student)
    submission.locator("td.autograde a").click()
    expect(modal).to_contain_text("Successfully autograded", timeout=LONG)
    modal.get_by_role("button", name="OK").click()
    expect(modal).to_be_hidden()
    score = submission.locator("td.score")
    expect(score).to_have_text(re.compile(r"\d"), timeout=LONG)
    got, total = (float(x) for x in re.findall(r"\d+(?:\.\d+)?", score.inner_text())[:2])
    assert 0 < got < total, f"the coarse book_ticket lock should cost a point: {score.inner_text()}"
    snap(page, "3-2-autograded-score")

    submission.locator("td.generate-feedback a").click()
    expect(modal).to_contain_text("Successfully generated feedback", timeout=LONG)
    modal.get_by_role("button", name="OK").click()

    # -- the feedback: the sentence fits the page, the summary names the exercise ----------
    page.goto(lab.address(f"/files/feedback/{student}/03_locks/03_locks.html"))
    expect(page.locator("#toc")).to_contain_text("book_ticket: hidden test")
    snap(page, "3-3-feedback-summary")
    sentence = page.locator(".output_error pre").first
    expect(sentence).to_contain_text("ticket")
    sentence.evaluate("pre => pre.scrollIntoView({block: 'end'})")     # its picture and heading above it
    box = sentence.bounding_box()
    width = page.evaluate("document.documentElement.clientWidth")
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, f"the sentence runs off the page: {box}"
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "the page scrolls sideways"
    assert "check_book_ticket_queries_concurrently" not in page.content(), "a hidden test's code shows"
    snap(page, "3-4-feedback-sentence")
    warnings = re.findall(r".*(?:not recognized|not serializable).*", lab.log.read_text(encoding="utf-8"))
    assert not warnings, f"configuration warnings in JupyterLab's log: {warnings}"
