#!/usr/bin/env bash
# Installs what tests/e2e/editor_emacs.rs needs: Emacs 28 without X and eglot from Debian
# (eglot is built into Emacs 29+, Debian 12's Emacs 28 gets it from elpa-eglot). Idempotent.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
apt_need emacs-nox elpa-eglot
emacs --version | head -n 1
# -q, not -Q: Debian's elpa packages are found through site-lisp, which -Q leaves out.
emacs --batch -q --eval '(progn (package-initialize) (require (quote eglot)) (message "eglot loads from %s" (locate-library "eglot")))' 2>&1 | grep -v '^Loading'
