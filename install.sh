#!/bin/sh
# Install git-orch (git worker, and its companions when present) with its man
# pages and shell completions, then run a short demo in a throwaway repository.
#
#   ./install.sh                 # into ~/.local (PREFIX=/usr/local ./install.sh to change)
#   NO_DEMO=1 ./install.sh       # install only
#
# git finds `git-worker` on PATH as `git worker`, and man-db finds
# $PREFIX/share/man for $PREFIX/bin on PATH, so `git worker --help` opens the
# man page once $PREFIX/bin is on PATH.
set -eu
cd "$(dirname "$0")"
PREFIX=${PREFIX:-$HOME/.local}

command -v cargo >/dev/null 2>&1 || { echo "error: cargo is not installed" >&2; echo "hint: install Rust from https://rustup.rs" >&2; exit 2; }
command -v git >/dev/null 2>&1 || { echo "error: git is not installed" >&2; exit 2; }

for crate in git-worker git-handoff git-review-gate; do
    if [ -f "$crate/Cargo.toml" ]; then
        echo "installing $crate into $PREFIX/bin" >&2
        cargo install --quiet --locked --force --path "$crate" --root "$PREFIX"
    fi
done
mkdir -p "$PREFIX/share/man/man1"
cp man/*.1 "$PREFIX/share/man/man1/"
cp -R share/. "$PREFIX/share/"
mkdir -p "$PREFIX/share/git-worker/hooks"
cp hooks/* "$PREFIX/share/git-worker/hooks/"
echo "installed man pages and completions under $PREFIX/share" >&2

case ":$PATH:" in
    *":$PREFIX/bin:"*) ;;
    *) echo "hint: add $PREFIX/bin to PATH, e.g. export PATH=\"$PREFIX/bin:\$PATH\"" >&2 ;;
esac

if [ -z "${NO_DEMO:-}" ]; then
    PATH="$PREFIX/bin:$PATH" sh share/git-worker/demo.sh
fi
