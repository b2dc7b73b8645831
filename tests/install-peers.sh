#!/usr/bin/env bash
# Installs the independent toolkits some tests talk to, pinned by their lock
# files: node-soap and spyne (the SOAP receivers of tests/soap.rs) and ajv
# (the strict JSON Schema validator of tests/schema_strict.rs). Tests that
# need a peer fail, never skip, without it.
set -euo pipefail
cd "$(dirname "$0")"
for peer in soap-peer schema-peer; do
    npm ci --prefix "$peer" --no-audit --no-fund --silent
done
# spyne in its own virtual environment (Debian's python3 refuses system-wide
# pip installs); tests/soap.rs runs the peer with this interpreter.
[ -x soap-peer-py/.venv/bin/python ] || python3 -m venv soap-peer-py/.venv
soap-peer-py/.venv/bin/python -m pip install --quiet --disable-pip-version-check -r soap-peer-py/requirements.txt
