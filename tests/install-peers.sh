#!/usr/bin/env bash
# Installs the independent toolkits some tests talk to, pinned by their lock
# files: node-soap (the SOAP receiver of tests/soap.rs) and ajv (the strict
# JSON Schema validator of tests/schema_strict.rs). Tests that need a peer
# fail, never skip, without it.
set -euo pipefail
cd "$(dirname "$0")"
for peer in soap-peer schema-peer; do
    npm ci --prefix "$peer" --no-audit --no-fund --silent
done
