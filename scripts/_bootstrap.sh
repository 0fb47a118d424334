# Sourced by the scripts beside it: puts the locked environment in .venv. Idempotent.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

UV_VERSION=0.13.8
export UV_PYTHON_DOWNLOADS=never   # use the machine's Python 3.11+, never fetch one
export UV_NO_PROGRESS=1

apt_install() {
    if [ "$(id -u)" != 0 ]; then
        echo "labrun setup: please install the Debian packages: $*" >&2
        exit 1
    fi
    echo "labrun setup: installing Debian packages: $*" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! command -v python3 >/dev/null; then
    apt_install python3 python3-venv
fi
if [ ! -x .tools/bin/uv ]; then
    rm -rf .tools
    if ! python3 -m venv .tools 2>/dev/null; then
        rm -rf .tools
        apt_install python3-venv
        python3 -m venv .tools
    fi
    .tools/bin/python -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
.tools/bin/uv sync --frozen --quiet
