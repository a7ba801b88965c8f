#!/usr/bin/env bash
# Everything a fresh Debian machine needs to grade and to run the test suite, in one command:
#   - Debian packages: bubblewrap (the grader's sandbox), chromium (browser tests),
#     fonts-noto-cjk (the Chinese terms in pictures), postgresql (the PostgreSQL gradebook test);
#   - the Python packages of requirements.txt, into the active Python environment.
# Run it from an activated virtual environment:  python3 -m venv .venv && . .venv/bin/activate
# As root it installs the Debian packages itself; otherwise it prints the command to run as root
# and goes on with the Python part. Students on laptops only need: pip install -r requirements.txt
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(bubblewrap chromium fonts-noto-cjk postgresql)

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for package in "${DEBIAN_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$package")
    fi
  done
else
  echo "setup.sh: this is not Debian (no dpkg): install ${DEBIAN_PACKAGES[*]} (or their equivalents)" \
       "with your system's package manager; the Python part follows." >&2
fi

root_command=""
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "== Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # wait (up to 10 min) rather than fail when another apt-get holds the lock
    apt-get -o DPkg::Lock::Timeout=600 update
    apt-get -o DPkg::Lock::Timeout=600 install -y "${missing[@]}"
  else
    root_command="apt-get update && apt-get install -y ${missing[*]}"
    echo "setup.sh: not root, so these Debian packages are not installed: ${missing[*]}" >&2
    echo "setup.sh: run this as root (e.g. with sudo), then run setup.sh again:" >&2
    echo "    $root_command" >&2
    echo "setup.sh: going on with the Python packages." >&2
  fi
fi

python=python
command -v python >/dev/null 2>&1 || python=python3
if ! "$python" -c 'import sys; sys.exit(sys.prefix == sys.base_prefix)'; then
  echo "setup.sh: note: $("$python" -c 'import sys; print(sys.executable)') is not a virtual environment" \
       "(python3 -m venv .venv && . .venv/bin/activate first, unless you mean it)" >&2
fi
echo "== Python packages (requirements.txt) into $("$python" -c 'import sys; print(sys.prefix)')"
"$python" -m pip install --quiet -r requirements.txt

if [ -n "$root_command" ]; then
  echo "setup.sh: done, except the Debian packages; as root run:  $root_command" >&2
fi
