#!/bin/sh
# The whole git-orch loop in a throwaway repository: two workers with
# disjoint contracts, scripted edits standing in for the agents, two
# handoffs, both verified in a clean checkout and approved through the
# review gate, both applied with their verification re-run, then cleanup.
# Usage: sh demo.sh [DIR]   (default: a temporary directory, removed at the
# end; with DIR the demo repository stays there to look at)
set -eu
if [ -n "${1:-}" ]; then
    dir=$1
    mkdir -p "$dir"
else
    dir=$(mktemp -d "${TMPDIR:-/tmp}/git-worker-demo.XXXXXX")
    # Removed however the demo ends: success, a failed step, ^C.
    trap 'cd / && rm -rf "$dir"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
fi
cd "$dir"
say() { printf '\n$ %s\n' "$*"; }
run() { say "$*"; "$@"; }

export GIT_AUTHOR_NAME="git-worker demo" GIT_AUTHOR_EMAIL="demo@example.invalid"
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"

git init --quiet --initial-branch=main app
cd app
mkdir -p src/auth src/billing
echo 'login' > src/auth/login.txt
echo 'charge' > src/billing/charge.txt
# The project's test suite: every feature file must be non-empty.
printf '#!/bin/sh\nfor f in src/*/*.txt; do test -s "$f" || { echo "empty: $f"; exit 1; }; done\necho "tests passed"\n' > test.sh
git add . && git commit --quiet -m "initial"

# spawn prints each worker's checkout path on stdout, progress on stderr.
say "git worker spawn auth --allow 'src/auth/**' --verify 'sh test.sh' --description 'Add logout'"
auth=$(git worker spawn auth --allow 'src/auth/**' --verify 'sh test.sh' --description 'Add logout')
echo "$auth"
say "git worker spawn billing --allow 'src/billing/**' --verify 'sh test.sh' --description 'Add refunds'"
billing=$(git worker spawn billing --allow 'src/billing/**' --verify 'sh test.sh' --description 'Add refunds')
echo "$billing"

say "(the agents work: auth commits, billing leaves its work uncommitted)"
(cd "$auth" && echo 'logout' > src/auth/logout.txt && git add . && git commit --quiet -m "auth: add logout")
(cd "$billing" && echo 'refund' > src/billing/refund.txt)
run git worker list

say "(each worker hands off its own summary)"
(cd "$auth" && git handoff report --summary "Added logout next to login. Conclusion: ready to apply.")
(cd "$billing" && git handoff report --summary "Added refunds. Conclusion: ready; charge is untouched.")
run git handoff list
run git handoff show billing

say "(landing needs a passing clean-checkout run and an approval)"
run git config orch.review.require both
run git review-gate run auth
run git review-gate approve auth -m "Read the diff; logout mirrors login."
say "git review-gate status billing   (closed: exit 1)"
git review-gate status billing || true
run git review-gate run billing --jobs 2
run git review-gate approve billing -m "Refunds look right."
run git handoff apply auth
run git handoff apply billing
run git log --oneline
run git worker list
run git worker rm auth billing
if [ -n "${1:-}" ]; then
    printf '\ndemo repository: %s/app\n' "$dir"
else
    printf '\n(the demo repository is removed; sh %s DIR keeps it in DIR)\n' "$0"
fi
