#!/usr/bin/env bash
# Installs what tests/e2e/editor_neovim.rs needs:
#   - Neovim 0.7.2, Debian's `neovim` package (the system one);
#   - Neovim 0.12 from Debian sid's .debs, unpacked under $KIMI_EDITORS_DIR/nvim-sid/root without
#     touching the system, run through sid's own dynamic loader (see run-nvim-sid below).
# sid moves, so a failed download does not fail the setup: the reason is written to
# $KIMI_EDITORS_DIR/nvim-sid/UNAVAILABLE and the 0.12 test reports "skipped: <reason>".
# Idempotent: a second run downloads and installs nothing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib.sh
source "$here/../lib.sh"

# lua-check: the plugin is linted (luacheck) by the same test target.
apt_need neovim lua-check

sid="$KIMI_EDITORS_DIR/nvim-sid"
root="$sid/root"
mkdir -p "$sid"

# sid's nvim on sid's libc, through sid's loader; --library-path does not leak into child
# processes, so the language server it starts runs on the system's libraries. sid's tree-sitter
# parsers live in usr/lib/nvim, which nvim finds through 'runtimepath' at its own prefix only.
write_wrapper() {
    cat >"$sid/run-nvim" <<'RUN'
#!/bin/sh
here="$(cd "$(dirname "$0")" && pwd)"
L="$here/root/usr/lib/x86_64-linux-gnu"
VIMRUNTIME="$here/root/usr/share/nvim/runtime" exec "$L/ld-linux-x86-64.so.2" --library-path "$L" \
    "$here/root/usr/bin/nvim" --cmd "set runtimepath+=$here/root/usr/lib/nvim" "$@"
RUN
    chmod +x "$sid/run-nvim"
}

if [ -x "$root/usr/bin/nvim" ]; then
    write_wrapper
fi
if [ -x "$sid/run-nvim" ] && "$sid/run-nvim" --version >/dev/null 2>&1; then
    rm -f "$sid/UNAVAILABLE"
    echo "neovim (sid): $("$sid/run-nvim" --version | head -n1)"
    exit 0
fi

unavailable() {
    echo "$*" >"$sid/UNAVAILABLE"
    echo "neovim (sid) not installed: $*" >&2
    exit 0
}

# A private apt state, so the system's sources and package lists stay as they are.
A="$sid/apt"
mkdir -p "$A/state/lists/partial" "$A/cache/archives/partial" "$A/etc/sources.list.d" "$A/etc/preferences.d"
echo 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main' \
    >"$A/etc/sources.list"
APTO=(-o "Dir::State=$A/state" -o Dir::State::status=/var/lib/dpkg/status -o "Dir::Cache=$A/cache"
    -o "Dir::Etc::SourceList=$A/etc/sources.list" -o "Dir::Etc::SourceParts=$A/etc/sources.list.d"
    -o "Dir::Etc::PreferencesParts=$A/etc/preferences.d")
apt-get "${APTO[@]}" -q update >"$sid/apt-update.log" 2>&1 \
    || unavailable "apt-get update for Debian sid failed (see $sid/apt-update.log)"

debs="$sid/debs"
rm -rf "$debs" "$root"
mkdir -p "$debs" "$root"
pkgs=(neovim neovim-runtime libc6/sid libluajit-5.1-2/sid libluajit-5.1-common/sid libunibilium4/sid
    libutf8proc3/sid libuv1t64/sid lua-lpeg/sid lua-luv/sid libgcc-s1/sid)
# neovim's tree-sitter library is versioned in its name; ask sid which one it depends on now.
ts="$(apt-cache "${APTO[@]}" depends neovim 2>/dev/null | sed -n 's/.*Depends: \(libtree-sitter0[0-9.]*\).*/\1/p' | head -n1)" || true
[ -n "$ts" ] || unavailable "sid's neovim package names no libtree-sitter dependency (apt-cache depends neovim)"
pkgs+=("$ts/sid")
(cd "$debs" && apt-get "${APTO[@]}" -q download "${pkgs[@]}") >"$sid/apt-download.log" 2>&1 \
    || unavailable "downloading sid's neovim .debs failed (see $sid/apt-download.log)"
for d in "$debs"/*.deb; do
    dpkg-deb -x "$d" "$root" || unavailable "cannot unpack $d"
done

write_wrapper
if ! out="$("$sid/run-nvim" --version 2>&1)"; then
    rm -f "$sid/run-nvim"
    unavailable "sid's nvim does not start here: $(echo "$out" | head -n3)"
fi
rm -f "$sid/UNAVAILABLE"
echo "neovim (sid): $(echo "$out" | head -n1)"
