# Sourced by scripts/demo and scripts/test: pick the Python environment.
# CI (CI=true) and an already active virtualenv use the current interpreter;
# otherwise a .venv beside the checkout is created once and reused.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [ "${CI:-}" != "true" ] && [ -z "${VIRTUAL_ENV:-}" ]; then
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv || {
      echo "error: python3 -m venv failed; on Debian run: sudo apt-get install -y python3-venv" >&2
      exit 1
    }
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
