#!/usr/bin/env bash
# Set up everything the pipeline and the tests need, reusing what is already there:
#   .venv/ with the pinned packages (reinstalled only when requirements.txt or pyproject.toml change)
#   data/raw/ with the THUCNews files (see bert_int8/data/fetch.py for where they come from)
# Safe to run again; both README commands start with it.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  "${PYTHON:-python3}" -m venv .venv
fi
stamp=.venv/.installed-requirements
want=$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt
  .venv/bin/python -m pip install -q --no-deps -e .
  echo "$want" > "$stamp"
fi
# NNCF reports usage to OpenVINO's telemetry unless the user opted out; this project sends
# nothing anywhere, so opt out (it writes the consent file under ~/intel/).
.venv/bin/opt_in_out --opt_out > /dev/null

.venv/bin/python -m bert_int8.data.fetch data/raw
