# Shared by scripts/test and scripts/demo: create .venv if missing and install the locked
# dependencies when the lock file changed since the last install.
# usage: . scripts/_venv.sh runtime|dev
set -euo pipefail
_kind=${1:-runtime}
_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_py=${PYTHON:-python3}
if [ ! -x "$_root/.venv/bin/python" ]; then
  echo "creating $_root/.venv"
  "$_py" -m venv "$_root/.venv"
fi
_lock="$_root/requirements/$_kind.lock"
_stamp="$_root/.venv/.installed-$_kind"
if [ ! -f "$_stamp" ] || [ "$_lock" -nt "$_stamp" ] || [ "$_root/pyproject.toml" -nt "$_stamp" ]; then
  echo "installing locked $_kind dependencies (requirements/$_kind.lock)"
  "$_root/.venv/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes -r "$_lock"
  "$_root/.venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e "$_root"
  touch "$_stamp"
fi
export PATH="$_root/.venv/bin:$PATH"
# pytest keeps its rewritten test modules as bytecode in __pycache__ (ignored by git); an environment that
# forbids bytecode makes every xdist worker of every pass rewrite all test modules again (~10 s of CPU each).
export PYTHONDONTWRITEBYTECODE=
