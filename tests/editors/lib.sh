# Shared by tests/editors/*/setup.sh: install Debian packages and find the cache directory.
# Sourced, not run.

# Where downloads and npm packages for the editor tests live (ignored by git, removed by `cargo clean`).
KIMI_EDITORS_DIR="${KIMI_EDITORS_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/target/editors}"
mkdir -p "$KIMI_EDITORS_DIR"

# apt_need PACKAGE... : installs the packages that are not installed yet (one `apt-get update` per
# tests/run at most). Uses sudo when not root.
apt_need() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || { echo "need root (or sudo) to install: ${missing[*]}" >&2; return 1; }
        sudo="sudo"
    fi
    local stamp="$KIMI_EDITORS_DIR/.apt-updated"
    if [ ! -e "$stamp" ] || [ -n "$(find "$stamp" -mmin +360 2>/dev/null)" ]; then
        $sudo apt-get -o DPkg::Lock::Timeout=600 update -q
        touch "$stamp"
    fi
    echo "installing Debian packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
}
