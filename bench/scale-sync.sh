#!/bin/bash
# Workers on one hub: timings of a full sync, a no-op sync, a fresh clone,
# list after it, taking new events; ref counts. Build first:
#   cargo build --release --workspace && N=200 TMPDIR=/dev/shm bench/scale-sync.sh
set -eu
N=${N:-200}
cd "$(dirname "$0")/.." && export PATH="$PWD/target/release:$PATH"
export GIT_AUTHOR_NAME=s GIT_AUTHOR_EMAIL=s@x GIT_COMMITTER_NAME=s GIT_COMMITTER_EMAIL=s@x GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
D=${TMPDIR:-/tmp}/git-orch-scale-$N; rm -rf $D; mkdir -p $D; cd $D
git init -q -b main c && cd c && echo x > README && git add . && git commit -qm init && cd ..
git worker hub init hub.git >/dev/null 2>&1
git -C c push -q $D/hub.git main
git -C hub.git symbolic-ref HEAD refs/heads/main
git -C c remote add origin $D/hub.git
ids=$(seq -f "w%03g" 1 $N | tr '\n' ' ')
t() { local s=$(date +%s%N); "$@" >/dev/null 2>&1; local e=$(date +%s%N); echo "$(( (e-s)/1000000 )) ms"; }
echo "spawn $N: $(cd c && t git worker spawn $ids)"
for i in $(seq 1 $N); do git -C c worker message $(printf w%03d $i) hello >/dev/null 2>&1; done
echo "refs under refs/orch in c: $(git -C c for-each-ref refs/orch | wc -l)"
echo "first sync (push $N logs): $(cd c && t git worker sync)"
echo "sync again (nothing to do): $(cd c && t git worker sync)"
git clone -q -b main hub.git b
echo "sync in a fresh clone (fetch $N logs): $(cd b && t git worker sync)"
echo "list --no-status in b: $(cd b && t git worker list --no-status)"
echo "list --no-status in b again (cache): $(cd b && t git worker list --no-status)"
for i in $(seq 1 20); do git -C b worker message $(printf w%03d $i) again >/dev/null 2>&1; done
echo "sync in b after 20 new events: $(cd b && t git worker sync)"
echo "sync in c (fetch and take 20): $(cd c && t git worker sync)"
echo "hub loose refs: $(find hub.git/refs/orch -type f | wc -l), packed: $(grep -c orch hub.git/packed-refs 2>/dev/null || echo 0)"
git -C hub.git pack-refs --all
echo "after pack-refs on the hub: sync in c: $(cd c && t git worker sync)"
echo "hub objects: $(git -C hub.git count-objects -v | grep -E '^(count|size-pack|in-pack)' | tr '\n' ' ')"
