#!/usr/bin/env bash
# Lint, render and validate the Helm chart offline (see lint.py). The test command
# (deploy/dev/test) runs it; run it on its own as
#
#   helm/lint.sh [lint.py options]      e.g. helm/lint.sh --keep target/helm-rendered
#
# The first run creates a virtualenv with helm-python-sdk (Helm's Go SDK in a wheel,
# ~75 MB) and kubernetes-validate (bundled Kubernetes schemas), about 390 MB in all,
# in ${HELM_LINT_VENV:-<cargo target dir>/helm-venv}; later runs reuse it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
target="${CARGO_TARGET_DIR:-$here/../target}"
venv="${HELM_LINT_VENV:-$target/helm-venv}"
python="${PYTHON:-python3}"
requirements=(helm-python-sdk==0.2.2 kubernetes-validate==1.37.0)
stamp="$venv/.incident-requirements"

if [[ ! -x "$venv/bin/python" ]] || [[ "$(cat "$stamp" 2>/dev/null)" != "${requirements[*]}" ]]; then
    echo "lint.sh: creating $venv with ${requirements[*]}" >&2
    if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
        # Debian and Ubuntu ship venv's pip bootstrap separately.
        if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        else
            echo "lint.sh: $python cannot create a virtualenv: install python3-venv (Debian/Ubuntu) or set PYTHON" >&2
            exit 1
        fi
    fi
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${requirements[@]}"
    echo "${requirements[*]}" > "$stamp"
fi

exec "$venv/bin/python" "$here/lint.py" "$@"
