#!/usr/bin/env bash
# Installs what tests/e2e/editor_neovim.rs needs:
#   - Neovim 0.7.2, Debian's `neovim` package (the system one);
#   - Neovim 0.10 from Debian trixie (stable) and Neovim 0.12 from Debian sid, each from that
#     release's .debs unpacked under $KIMI_EDITORS_DIR/nvim-<release>/root without touching the
#     system, and run through that release's own dynamic loader (see run-nvim below).
# Releases move (sid daily, trixie with point releases), so a failed download does not fail the
# setup: the reason is written to $KIMI_EDITORS_DIR/nvim-<release>/UNAVAILABLE and that version's
# test reports "skipped: <reason>".
# Idempotent: a second run downloads and installs nothing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib.sh
source "$here/../lib.sh"

# lua-check: the plugin is linted (luacheck) by the same test target.
apt_need neovim lua-check

# The release's nvim on the release's libc, through its loader; --library-path does not leak into
# child processes, so the language server it starts runs on the system's libraries. The release's
# tree-sitter parsers live in usr/lib/nvim, which nvim finds through 'runtimepath' at its own
# prefix only.
write_wrapper() {
    local dir="$1"
    cat >"$dir/run-nvim" <<'RUN'
#!/bin/sh
here="$(cd "$(dirname "$0")" && pwd)"
L="$here/root/usr/lib/x86_64-linux-gnu"
VIMRUNTIME="$here/root/usr/share/nvim/runtime" exec "$L/ld-linux-x86-64.so.2" --library-path "$L" \
    "$here/root/usr/bin/nvim" --cmd "set runtimepath+=$here/root/usr/lib/nvim" "$@"
RUN
    chmod +x "$dir/run-nvim"
}

# fetch_release RELEASE: Debian RELEASE's neovim into $KIMI_EDITORS_DIR/nvim-RELEASE, or the
# reason it is not there in its UNAVAILABLE file. Never fails the script.
fetch_release() {
    local release="$1"
    local dir="$KIMI_EDITORS_DIR/nvim-$release"
    local root="$dir/root"
    mkdir -p "$dir"
    unavailable() {
        echo "$*" >"$dir/UNAVAILABLE"
        echo "neovim ($release) not installed: $*" >&2
    }

    if [ -x "$root/usr/bin/nvim" ]; then
        write_wrapper "$dir"
    fi
    if [ -x "$dir/run-nvim" ] && "$dir/run-nvim" --version >/dev/null 2>&1; then
        rm -f "$dir/UNAVAILABLE"
        echo "neovim ($release): $("$dir/run-nvim" --version | head -n1)"
        return 0
    fi

    # A private apt state, so the system's sources and package lists stay as they are.
    local A="$dir/apt"
    mkdir -p "$A/state/lists/partial" "$A/cache/archives/partial" "$A/etc/sources.list.d" "$A/etc/preferences.d"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $release main" \
        >"$A/etc/sources.list"
    local APTO=(-o "Dir::State=$A/state" -o Dir::State::status=/var/lib/dpkg/status -o "Dir::Cache=$A/cache"
        -o "Dir::Etc::SourceList=$A/etc/sources.list" -o "Dir::Etc::SourceParts=$A/etc/sources.list.d"
        -o "Dir::Etc::PreferencesParts=$A/etc/preferences.d")
    if ! apt-get "${APTO[@]}" -q update >"$dir/apt-update.log" 2>&1; then
        unavailable "apt-get update for Debian $release failed (see $dir/apt-update.log)"
        return 0
    fi

    # neovim's own dependencies as the release names them (the tree-sitter library, for one, is
    # versioned in its name), plus what those need that the system's versions may not provide.
    local deps
    deps="$(apt-cache "${APTO[@]}" depends "neovim/$release" 2>/dev/null \
        | sed -n 's/^ *|\{0,1\}Depends: \([^<>[:space:]]*\)$/\1/p' | sort -u)" || true
    if ! grep -q '^libtree-sitter' <<<"$deps"; then
        unavailable "Debian $release's neovim package names no libtree-sitter dependency (apt-cache depends neovim)"
        return 0
    fi
    local pkgs=("neovim/$release" "libluajit-5.1-common/$release" "libgcc-s1/$release")
    local p
    for p in $deps; do
        pkgs+=("$p/$release")
    done

    local debs="$dir/debs"
    rm -rf "$debs" "$root"
    mkdir -p "$debs" "$root"
    if ! (cd "$debs" && apt-get "${APTO[@]}" -q download "${pkgs[@]}") >"$dir/apt-download.log" 2>&1; then
        unavailable "downloading Debian $release's neovim .debs failed (see $dir/apt-download.log)"
        return 0
    fi
    local d
    for d in "$debs"/*.deb; do
        if ! dpkg-deb -x "$d" "$root"; then
            unavailable "cannot unpack $d"
            return 0
        fi
    done

    write_wrapper "$dir"
    local out
    if ! out="$("$dir/run-nvim" --version 2>&1)"; then
        rm -f "$dir/run-nvim"
        unavailable "Debian $release's nvim does not start here: $(echo "$out" | head -n3)"
        return 0
    fi
    rm -f "$dir/UNAVAILABLE"
    echo "neovim ($release): $(echo "$out" | head -n1)"
}

# trixie: Neovim 0.10, the first with inline virtual text (the plugin's own ghost text).
fetch_release trixie
# sid: Neovim 0.12+, with the built-in vim.lsp.inline_completion.
fetch_release sid
