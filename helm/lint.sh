#!/usr/bin/env bash
# Lint, render and validate the Helm chart offline (see lint.py). Run on demand:
#
#   helm/lint.sh [lint.py options]      e.g. helm/lint.sh --keep /tmp/rendered
#
# The first run creates a virtualenv with helm-python-sdk (Helm's Go SDK in a wheel,
# ~75 MB) and kubernetes-validate (bundled Kubernetes schemas), about 390 MB in all,
# in ${HELM_LINT_VENV:-$HOME/.cache/incident-helm-venv}; later runs reuse it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${HELM_LINT_VENV:-$HOME/.cache/incident-helm-venv}"
python="${PYTHON:-python3}"
requirements=(helm-python-sdk==0.2.2 kubernetes-validate==1.37.0)
stamp="$venv/.incident-requirements"

if [[ ! -x "$venv/bin/python" ]] || [[ "$(cat "$stamp" 2>/dev/null)" != "${requirements[*]}" ]]; then
    echo "lint.sh: creating $venv with ${requirements[*]}" >&2
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${requirements[@]}"
    echo "${requirements[*]}" > "$stamp"
fi

exec "$venv/bin/python" "$here/lint.py" "$@"
