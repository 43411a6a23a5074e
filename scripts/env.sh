# Sourced by scripts/demo and scripts/test: pick the Python environment.
# CI (CI=true) and an already active virtualenv use the current interpreter;
# otherwise a .venv beside the checkout is created once and reused.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [ "${CI:-}" != "true" ] && [ -z "${VIRTUAL_ENV:-}" ]; then
  if [ ! -x .venv/bin/python ]; then
    if ! python3 -m venv .venv 2>/dev/null; then
      rm -rf .venv
      # Debian's python3 ships venv separately; install it when we are allowed to.
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get install -y -q python3-venv >/dev/null && python3 -m venv .venv
      else
        echo "error: python3 -m venv failed; on Debian run: sudo apt-get install -y python3-venv" >&2
        exit 1
      fi
    fi
  fi
  # shellcheck disable=SC1091
  . .venv/bin/activate
fi
install_package() {
  # $1: the extras to install, e.g. "test" or "dev"
  local stamp=".install-$1.stamp"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    python -m pip install --quiet --upgrade pip
    python -m pip install --quiet -e ".[$1]"
    touch "$stamp"
  fi
}
