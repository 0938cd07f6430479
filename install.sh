#!/bin/sh
# Install git-orch (git worker, and its companions when present) with its man
# pages and shell completions, then run a short demo in a throwaway repository.
#
#   ./install.sh                 # into ~/.local (PREFIX=/usr/local ./install.sh to change)
#   NO_DEMO=1 ./install.sh       # install only
#   ./install.sh --uninstall     # remove exactly what install put there (same PREFIX)
#   GIT_ORCH_BIN_DIR=target/release ./install.sh
#                                # install binaries built already, without cargo
#
# git finds `git-worker` on PATH as `git worker`, and man-db finds
# $PREFIX/share/man for $PREFIX/bin on PATH, so `git worker --help` opens the
# man page once $PREFIX/bin is on PATH.
#
# Every file and directory install creates is listed in
# $PREFIX/share/git-orch/installed-files, which --uninstall reads; binaries
# installed by cargo are removed with `cargo uninstall`, which keeps cargo's
# own records ($PREFIX/.crates.toml) right.
set -eu
cd "$(dirname "$0")"
PREFIX=${PREFIX:-$HOME/.local}
CRATES="git-worker git-handoff git-review-gate"
MANIFEST=share/git-orch/installed-files # relative to PREFIX

step() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$1" >&2; [ -z "${2:-}" ] || printf 'hint: %s\n' "$2" >&2; exit 2; }

# What install copies besides the binaries: "SOURCE<tab>DESTINATION" lines,
# DESTINATION relative to PREFIX. share/ mirrors $PREFIX/share.
payload() {
    for page in man/*.1; do
        printf '%s\tshare/man/man1/%s\n' "$page" "${page#man/}"
    done
    find share -type f | LC_ALL=C sort | while IFS= read -r file; do
        printf '%s\t%s\n' "$file" "$file"
    done
    for hook in hooks/*; do
        printf '%s\tshare/git-worker/hooks/%s\n' "$hook" "${hook#hooks/}"
    done
}

uninstall() {
    [ -d "$PREFIX" ] || die "nothing to uninstall: '$PREFIX' does not exist" "set PREFIX to where git-orch was installed"
    if [ -f "$PREFIX/$MANIFEST" ]; then
        list=$(cat "$PREFIX/$MANIFEST")
    else
        # Installed by an install.sh that kept no list: what this one would install.
        step "no $PREFIX/$MANIFEST: removing what this version installs"
        list=$(
            for crate in $CRATES; do printf 'cargo\t%s\n' "$crate"; done
            payload | while IFS="$(printf '\t')" read -r _ dest; do printf 'file\t%s\n' "$dest"; done
            printf 'dir\t%s\n' share/git-worker/hooks share/git-worker share/git-orch/ci share/git-orch
        )
    fi
    printf '%s\n' "$list" | while IFS="$(printf '\t')" read -r kind path; do
        case $kind in
            cargo)
                if [ -f "$PREFIX/.crates.toml" ] && grep -q "^\"$path " "$PREFIX/.crates.toml"; then
                    step "cargo uninstall $path"
                    cargo uninstall --quiet --root "$PREFIX" "$path"
                fi ;;
            file)
                if [ -e "$PREFIX/$path" ] || [ -L "$PREFIX/$path" ]; then
                    rm -f "$PREFIX/$path"
                fi ;;
            cargo-record)
                # cargo's records, made by this install: gone once they list
                # no crate ("[v1]" and '{"installs":{}}' are empty).
                if [ -f "$PREFIX/$path" ] && ! grep -q '"[^"]* [0-9][^"]*(' "$PREFIX/$path"; then
                    rm -f "$PREFIX/$path"
                fi ;;
        esac
    done
    rm -f "$PREFIX/$MANIFEST"
    # Directories last, deepest first; one that holds something else stays.
    printf '%s\n' "$list" | awk -F '\t' '$1 == "dir" { print $2 }' | LC_ALL=C sort -r | while IFS= read -r dir; do
        if [ -d "$PREFIX/$dir" ] && ! rmdir "$PREFIX/$dir" 2>/dev/null; then
            echo "note: kept $PREFIX/$dir: it holds files git-orch did not install" >&2
        fi
    done
    step "uninstalled git-orch from $PREFIX"
}

# The record of what this run creates; merged with an earlier install's.
record=$(mktemp "${TMPDIR:-/tmp}/git-orch-install.XXXXXX")
trap 'rm -f "$record"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
note() { printf '%s\t%s\n' "$1" "$2" >> "$record"; }

# mkdir -p DIR (relative to PREFIX), recording each directory it creates.
make_dir() {
    missing=
    dir=$1
    while [ "$dir" != . ] && [ ! -d "$PREFIX/$dir" ]; do
        missing="$dir
$missing"
        dir=$(dirname "$dir")
    done
    [ -d "$PREFIX" ] || { mkdir -p "$PREFIX"; }
    for dir in $(printf '%s' "$missing"); do
        mkdir "$PREFIX/$dir"
        note dir "$dir"
    done
}

install_binaries() {
    make_dir bin
    for crate in $CRATES; do
        [ -f "$crate/Cargo.toml" ] || continue
        if [ -n "${GIT_ORCH_BIN_DIR:-}" ]; then
            [ -x "$GIT_ORCH_BIN_DIR/$crate" ] || die "'$GIT_ORCH_BIN_DIR/$crate' is not an executable" "build it with \`cargo build --release\`, or unset GIT_ORCH_BIN_DIR to build with cargo install"
            step "installing $crate from $GIT_ORCH_BIN_DIR into $PREFIX/bin"
            rm -f "$PREFIX/bin/$crate"
            cp "$GIT_ORCH_BIN_DIR/$crate" "$PREFIX/bin/$crate"
            chmod 755 "$PREFIX/bin/$crate"
            note file "bin/$crate"
        else
            for records in .crates.toml .crates2.json; do
                [ -e "$PREFIX/$records" ] || note cargo-record "$records"
            done
            step "building and installing $crate into $PREFIX/bin (cargo install; the first build downloads and compiles every dependency and takes several minutes)"
            cargo install --locked --force --path "$crate" --root "$PREFIX"
            note cargo "$crate"
        fi
    done
}

install_files() {
    step "installing man pages, completions and hooks under $PREFIX/share"
    tab=$(printf '\t')
    payload | while IFS="$tab" read -r src dest; do
        make_dir "$(dirname "$dest")"
        cp "$src" "$PREFIX/$dest"
        note file "$dest"
    done
}

write_manifest() {
    make_dir "$(dirname "$MANIFEST")"
    note file "$MANIFEST"
    # Earlier installs' records first: a directory this run found existing
    # may be one an earlier install created.
    if [ -f "$PREFIX/$MANIFEST" ]; then
        cat "$PREFIX/$MANIFEST" "$record" | awk '!seen[$0]++' > "$record.new"
    else
        awk '!seen[$0]++' "$record" > "$record.new"
    fi
    mv "$record.new" "$PREFIX/$MANIFEST"
}

case ${1:-} in
    --uninstall) uninstall; exit 0 ;;
    "") ;;
    -h|--help) sed -n '2,18s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) die "unknown option '$1'" "run ./install.sh, or ./install.sh --uninstall" ;;
esac

if [ -z "${GIT_ORCH_BIN_DIR:-}" ]; then
    command -v cargo >/dev/null 2>&1 || die "cargo is not installed" "install Rust 1.89 or newer from https://rustup.rs (README, \"Install\")"
fi
command -v git >/dev/null 2>&1 || die "git is not installed" "install git 2.38 or newer"

install_binaries
install_files
write_manifest
step "installed into $PREFIX (list: $PREFIX/$MANIFEST; remove with ./install.sh --uninstall)"

case ":$PATH:" in
    *":$PREFIX/bin:"*) ;;
    *) echo "hint: add $PREFIX/bin to PATH, e.g. export PATH=\"$PREFIX/bin:\$PATH\"" >&2 ;;
esac

if [ -z "${NO_DEMO:-}" ]; then
    step "running the demo (share/git-worker/demo.sh; NO_DEMO=1 skips it)"
    PATH="$PREFIX/bin:$PATH" sh share/git-worker/demo.sh
fi
