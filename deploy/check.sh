#!/usr/bin/env bash
# Validates deploy/ (images, compose, plain manifests) and helm/switchyard without a
# cluster, a docker daemon or helm; see docs/DEPLOY.md ("Checking it"). Installs
# kubernetes-validate, jsonschema and PyYAML with pip when they are missing (into the
# user's site-packages, or a venv under .dev/ where pip may not install), then runs
# deploy/check/check_manifests.py. Uses target/debug/switchyard-api (under
# CARGO_TARGET_DIR when set), when built, to load every configuration through the real
# settings loader.
#
# `deploy/check.sh --python` only installs what is missing and prints the Python that has
# it: the scheduler's tests run `<that python> -m kubernetes_validate` on every object the
# kubernetes backend makes (scripts/test exports it as SWITCHYARD_TEST_PYTHON).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
need='import jsonschema, kubernetes_validate, yaml'
if ! "$PYTHON" -c "$need" 2>/dev/null; then
  venv=.dev/deploy-check
  if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "$need" 2>/dev/null; then
    PYTHON="$PWD/$venv/bin/python"
  elif ! "$PYTHON" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
      kubernetes-validate jsonschema pyyaml >/dev/null 2>&1 || ! "$PYTHON" -c "$need" 2>/dev/null; then
    # An "externally managed" system Python refuses pip: use a venv of our own.
    mkdir -p .dev
    "$PYTHON" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check kubernetes-validate jsonschema pyyaml
    PYTHON="$PWD/$venv/bin/python"
  fi
fi
if [ "${1:-}" = "--python" ]; then
  command -v "$PYTHON" 2>/dev/null || echo "$PYTHON"
  exit 0
fi
exec "$PYTHON" deploy/check/check_manifests.py "$@"
