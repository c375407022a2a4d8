#!/usr/bin/env bash
# Set up everything edge needs on a fresh Debian/Ubuntu machine with Python 3.11:
# a virtualenv in .venv with the package and its pinned dependencies.
# With --test, also the dev tools and the Mosquitto broker the test suite starts itself.
# Safe to re-run: steps already done are skipped quickly.
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=0
[ "${1:-}" = "--test" ] && want_tests=1
python=${PYTHON:-}
if [ -z "$python" ]; then
  python=$(command -v python3.11 || command -v python3 || true)
fi
[ -n "$python" ] || { echo "bootstrap: Python 3.11 not found (apt-get install python3)" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else echo "bootstrap: need root to run: $*" >&2; return 1
  fi
}

apt_install() {
  command -v apt-get >/dev/null 2>&1 || { echo "bootstrap: no apt-get; install $* by hand" >&2; return 1; }
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1 \
    || { as_root apt-get update -qq && as_root apt-get install -y --no-install-recommends "$@" >/dev/null; }
}

if ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  echo "bootstrap: installing python3-venv" >&2
  apt_install python3-venv
fi
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv" >&2
  "$python" -m venv .venv
fi

pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt)
if ! .venv/bin/python -c 'import torch, torchvision' >/dev/null 2>&1; then
  echo "bootstrap: installing torch (large, once)" >&2
  "${pip[@]}" torch torchvision
fi
if [ "$want_tests" = 1 ]; then
  "${pip[@]}" -e '.[dev]'
  if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
    echo "bootstrap: installing mosquitto and openssl (for the test broker)" >&2
    apt_install mosquitto openssl
    # The tests start their own broker on a free port; don't leave the system one running.
    as_root systemctl disable --now mosquitto >/dev/null 2>&1 || as_root service mosquitto stop >/dev/null 2>&1 || true
  fi
  if [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf ]; then
    echo "bootstrap: installing fonts-dejavu-core (TrueType plates for recogniser training and its tests)" >&2
    apt_install fonts-dejavu-core
  fi
else
  "${pip[@]}" -e .
fi
echo "bootstrap: ready (.venv)" >&2
