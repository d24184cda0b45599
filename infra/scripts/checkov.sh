#!/usr/bin/env bash
# Run checkov over infra/ in its own virtualenv.
#
# checkov pins a `packaging` version that conflicts with pytest's, so it cannot
# live in the project's .venv. This script creates `.venv-checkov` at the
# infra/ (ignored by git and ruff) on first use (pip install checkov, a few minutes), then scans
# every Terraform module offline (--skip-download: no Prisma/Bridgecrew API).
#
# Skips are listed, each with its justification, in infra/.checkov.yaml.
#
# Usage: infra/scripts/checkov.sh [extra checkov args]
# Env:   CHECKOV_VENV  (default: <repo>/infra/.venv-checkov)
#        PYTHON        (default: python3) interpreter used to create the venv
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${CHECKOV_VENV:-${repo_root}/infra/.venv-checkov}"
python="${PYTHON:-python3}"

if [ ! -x "${venv}/bin/checkov" ]; then
  echo "checkov.sh: creating ${venv} (pip install checkov)" >&2
  "${python}" -m venv "${venv}"
  "${venv}/bin/python" -m pip install -q --upgrade pip
  "${venv}/bin/python" -m pip install -q checkov
fi

cd "${repo_root}"
exec "${venv}/bin/checkov" \
  -d infra \
  --framework terraform \
  --config-file infra/.checkov.yaml \
  --skip-download \
  --quiet \
  "$@"
