#!/usr/bin/env bash
# Run checkov over infra/ in its own virtualenv.
#
# checkov pins a `packaging` version that conflicts with pytest's, so it cannot live in the project's .venv. Its
# venv is made on first use from infra/scripts/checkov-requirements.txt (checkov and every dependency pinned with
# hashes, installed with --require-hashes: nothing by a bare name), outside the repository and keyed by that
# file's sha256, so a fresh clone reuses it and a changed pin makes a new one. Then every Terraform module is
# scanned offline (--skip-download: no Prisma/Bridgecrew API).
#
# Skips are listed, each with its justification, in infra/.checkov.yaml.
#
# Usage: infra/scripts/checkov.sh [extra checkov args]
#        infra/scripts/checkov.sh --print-venv   (where the venv is, or would be made; tests/infra/test_tools.py)
# Env:   CHECKOV_VENV  (default: ${XDG_CACHE_HOME:-~/.cache}/chatops/checkov-<sha256 of the requirements, 16 hex>)
#        PYTHON        (default: python3) interpreter used to create the venv
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
requirements="${repo_root}/infra/scripts/checkov-requirements.txt"
key="$(sha256sum "${requirements}" | cut -c1-16)"
venv="${CHECKOV_VENV:-${XDG_CACHE_HOME:-${HOME}/.cache}/chatops/checkov-${key}}"
python="${PYTHON:-python3}"

if [ "${1:-}" = "--print-venv" ]; then
  echo "${venv}"
  exit 0
fi

if [ ! -f "${venv}/.complete" ]; then
  mkdir -p "$(dirname "${venv}")"
  exec 9>"${venv}.lock"
  flock 9  # two runs at once: one creates the venv, the other waits and uses it
  if [ ! -f "${venv}/.complete" ]; then
    echo "checkov.sh: creating ${venv} (pip install -r checkov-requirements.txt --require-hashes)" >&2
    "${python}" -m venv --clear "${venv}"
    "${venv}/bin/python" -m pip install -q --disable-pip-version-check --require-hashes -r "${requirements}"
    touch "${venv}/.complete"
  fi
  exec 9>&-
fi

cd "${repo_root}"
exec "${venv}/bin/checkov" \
  -d infra \
  --framework terraform \
  --config-file infra/.checkov.yaml \
  --skip-download \
  --quiet \
  "$@"
