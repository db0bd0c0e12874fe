#!/bin/sh
# Rewrites the lock files from pyproject.toml: run it after changing a dependency there
# (tests/test_lock.py fails until you do). Pins already in a lock are kept where pyproject still allows
# them; `sh requirements/refresh.sh --upgrade` (or `--upgrade-package NAME`) moves them to the newest.
#   dev.lock      the project with its `dev` extra: what a developer or CI can install exactly
#   runtime.lock  the project alone, pinned as in dev.lock: what the Dockerfile installs
# Universal (any platform, Python >= 3.11) and with every file's sha256, for pip --require-hashes.
set -eu
cd "$(dirname "$0")/.."
uv="${UV:-.venv/bin/uv}"
compile() {
  "$uv" pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes --quiet \
    --custom-compile-command "sh requirements/refresh.sh" "$@"
}
compile --extra dev -o requirements/dev.lock "$@"
compile -c requirements/dev.lock -o requirements/runtime.lock "$@"
