#!/usr/bin/env bash
# Makes sure the over-the-wire tests have a moto_server (run before `npm test`).
# Order: a working moto_server on PATH, then the project's .venv, then try to create that
# .venv with `pip install "moto[server]"`. If none works it prints one line saying how to
# install moto and exits 1: the moto tier is never skipped silently.
set -u

# Repository root, whatever the caller's directory (test/helpers/moto.ts looks for
# .venv/bin/moto_server relative to it).
here="${BASH_SOURCE[0]%/*}"
[ "$here" = "${BASH_SOURCE[0]}" ] && here=.
cd "$here/.." || exit 1

venv_moto=.venv/bin/moto_server
hint='install moto for the over-the-wire tests: pip install "moto[server]" (or python3 -m venv .venv && .venv/bin/pip install "moto[server]")'

# `--help` rather than `command -v`: a pyenv shim exists even where the active Python lacks moto.
if moto_server --help >/dev/null 2>&1 || [ -x "$venv_moto" ]; then
  exit 0
fi

log="${TMPDIR:-/tmp}/themis-ensure-moto.$$.log"
echo "ensure-moto: moto_server not found; installing moto[server] into .venv (log: $log)" >&2
if python3 -m venv .venv >"$log" 2>&1 &&
  .venv/bin/pip install --disable-pip-version-check "moto[server]" >>"$log" 2>&1 &&
  [ -x "$venv_moto" ]; then
  rm -f "$log"
  exit 0
fi

echo "ensure-moto: no moto_server and installing it failed (see $log); $hint" >&2
exit 1
