"""Set the course up: its packages, then the assignments (through nbgrader's exchange, or as copies).

    python scripts/course_setup.py            # requirements.txt, then every assignment into the exchange
    python scripts/course_setup.py --copy     # requirements.txt, then a copy of every assignment

Packages already installed at the versions ``requirements.txt`` allows are left alone (pip
runs only when one is missing). Then the first form does ``nbgrader release_assignment
--force`` for every folder in ``release/``, into the exchange that ``nbgrader_config.py``
names (``exchange/`` here, unless MPCOURSE_EXCHANGE points elsewhere).
JupyterLab's Assignment List then shows them; *Fetch* makes the student's
working copy in ``py-multiprocessing/<assignment>/``, *Submit* hands it in for
``nbgrader collect``. Run it again after changing an assignment (it re-releases).

``--copy`` is for a laptop without the exchange (nbgrader's exchange does not run on
Windows, where it is what the first form does too): it copies each
``release/<assignment>/`` notebook to the same place Fetch would, and never overwrites a
copy that is already there. *Validate* works the same on it.
Neither form ever writes into ``release/``, which is the committed student version.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _requirement_class():
    try:
        from packaging.requirements import Requirement
    except ImportError:                                     # a bare venv: pip carries its own copy
        from pip._vendor.packaging.requirements import Requirement
    return Requirement


def missing_requirements(requirements: Path) -> list[str]:
    """The lines of ``requirements`` that no installed distribution satisfies (pip is slow to say so)."""
    from importlib.metadata import PackageNotFoundError, version

    requirement_class, missing = _requirement_class(), []
    for line in requirements.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        requirement = requirement_class(line)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        try:
            installed = version(requirement.name)
        except PackageNotFoundError:
            missing.append(line)
            continue
        if not requirement.specifier.contains(installed, prereleases=True):
            missing.append(line)
    return missing


def install_requirements(root: Path = ROOT) -> int:
    requirements = root / "requirements.txt"
    if not requirements.is_file():
        print(f"no {requirements.name} in {root}: installing nothing")
        return 0
    missing = missing_requirements(requirements)
    if not missing:
        print(f"the packages of {requirements.name} are installed")
        return 0
    if sys.prefix == sys.base_prefix:
        print("installing into this Python itself (no virtual environment is active; "
              "`python -m venv .venv` keeps the course's packages apart)")
    print(f"installing {len(missing)} missing package(s) from {requirements.name} with pip")
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-r", str(requirements)])
    if done.returncode != 0:
        print(f"pip could not install {requirements.name} (its message is above)", file=sys.stderr)
    return done.returncode


def load_config(root: Path = ROOT):
    """The course's nbgrader_config.py, as nbgrader reads it."""
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()


def working_folder(root: Path = ROOT, config=None) -> Path:
    """Where Fetch (and ``--copy``) put a student's copies: the exchange's assignment_dir/<course id>."""
    config = config or load_config(root)
    folder = Path(config.Exchange.assignment_dir or root)
    if config.Exchange.path_includes_course:
        folder /= config.CourseDirectory.course_id
    return folder


def assignments(root: Path = ROOT) -> list[str]:
    return sorted(p.name for p in (root / "release").iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def release_all(root: Path = ROOT) -> int:
    if sys.platform == "win32":
        print("nbgrader's exchange does not run on Windows: copying the assignments instead")
        return copy_all(root)
    from nbgrader.apps import NbGraderAPI

    config = load_config(root)
    config.ExchangeReleaseAssignment.force = True          # running it again re-releases
    api = NbGraderAPI(config=config)                        # one process for all: nbgrader starts slowly
    for name in assignments(root):
        result = api.release_assignment(name)
        if not result["success"]:
            print(f"releasing {name} failed:\n{result.get('log', '')}{result.get('error', '')}", file=sys.stderr)
            return 1
        print(f"released {name}")
    print(f"exchange: {config.Exchange.root} (course {config.CourseDirectory.course_id}); "
          f"Fetch puts your copy in {working_folder(root, config)}")
    return 0


def copy_all(root: Path = ROOT) -> int:
    folder = working_folder(root)
    for name in assignments(root):
        dest = folder / name
        if dest.exists():
            print(f"kept your copy {dest}")
            continue
        dest.mkdir(parents=True)
        for notebook in sorted((root / "release" / name).glob("*.ipynb")):
            shutil.copyfile(notebook, dest / notebook.name)
        print(f"copied {name} to {dest}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copy", action="store_true",
                        help="no exchange: copy every assignment to the folder Fetch would use")
    args = parser.parse_args(argv)
    installed = install_requirements()
    if installed != 0:
        return installed
    return copy_all() if args.copy else release_all()


if __name__ == "__main__":
    sys.exit(main())
