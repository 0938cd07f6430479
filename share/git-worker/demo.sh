#!/bin/sh
# A tour of git worker in a throwaway repository: spawn two workers with
# disjoint contracts, let them work, list them, and clean up.
# Usage: sh demo.sh [DIR]   (default: a new temporary directory)
set -eu
dir=${1:-$(mktemp -d "${TMPDIR:-/tmp}/git-worker-demo.XXXXXX")}
mkdir -p "$dir"
cd "$dir"
say() { printf '\n$ %s\n' "$*"; }
run() { say "$*"; "$@"; }

export GIT_AUTHOR_NAME="git-worker demo" GIT_AUTHOR_EMAIL="demo@example.invalid"
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"

git init --quiet --initial-branch=main app
cd app
mkdir -p src/auth src/billing docs
echo 'fn login() {}' > src/auth/login.rs
echo 'fn charge() {}' > src/billing/charge.rs
echo '# app' > README.md
git add . && git commit --quiet -m "initial"

# spawn prints each worker's checkout path on stdout, progress on stderr.
say "git worker spawn auth --allow 'src/auth/**' --verify 'test -f src/auth/login.rs' --description 'Harden login'"
auth=$(git worker spawn auth --allow 'src/auth/**' --verify 'test -f src/auth/login.rs' \
    --description 'Harden login')
echo "$auth"
say "git worker spawn billing --allow 'src/billing/**' --deny 'src/billing/secret/**' --label team=payments"
billing=$(git worker spawn billing --allow 'src/billing/**' --deny 'src/billing/secret/**' \
    --verify 'test -f src/billing/charge.rs' --label team=payments)
echo "$billing"

# Scripted edits stand in for the agents.
say "(the auth worker commits; the billing worker leaves a change uncommitted)"
(cd "$auth" && echo 'fn logout() {}' >> src/auth/login.rs && git commit --quiet -am "auth: add logout")
(cd "$billing" && echo 'fn refund() {}' >> src/billing/charge.rs)

run git worker list
say "cd $auth && git worker current"
(cd "$auth" && git worker current)
run git worker show billing
run git worker rm --force billing
run git worker rm --keep-branch auth
run git worker list
printf '\ndemo repository: %s/app\n' "$dir"
