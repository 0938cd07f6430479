#!/bin/bash
# `git worker sync` through a real gitolite3 behind a real sshd on 127.0.0.1,
# side by side with the plain git commands that move the same refs through
# the same server, for N workers (default 50): medians of R runs (default 7,
# ours and plain interleaved), the ssh connections each opens (sshd's
# "Accepted publickey" lines) and the ratio ours/plain. Rows:
#   1. first sync of N registry entries and branches (measured once)
#      vs `git push 'refs/orch/*' 'refs/heads/orch/*'` from an identical clone
#   2. sync with nothing to do vs `git fetch '+refs/orch/*'`, and vs fetch+push
#   3. sync in a fresh clone vs `git fetch '+refs/orch/*'` in a fresh clone
#   4. sync after one new event on each worker vs `git push 'refs/orch/*'`
# Ours talks to gitolite repo `hub`, plain to `hub2`; both are made hubs by
# `git worker hub init` (git-orch's hooks chained to gitolite's), so both
# sides pay the same server hooks. Needs openssh-server and gitolite3. Build first:
#   cargo build --release --workspace && N=200 R=7 TMPDIR=/dev/shm bench/scale-sync-gitolite.sh
set -eu
N=${N:-50} R=${R:-7}
cd "$(dirname "$0")/.." && BIN=$PWD/target/release && export PATH="$BIN:$PATH"
export GIT_AUTHOR_NAME=s GIT_AUTHOR_EMAIL=s@x GIT_COMMITTER_NAME=s GIT_COMMITTER_EMAIL=s@x
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null LC_ALL=C TZ=UTC
# No gc/maintenance detached into the background (it would outlive the script).
export GIT_CONFIG_COUNT=2 GIT_CONFIG_KEY_0=gc.autoDetach GIT_CONFIG_VALUE_0=false \
  GIT_CONFIG_KEY_1=maintenance.autoDetach GIT_CONFIG_VALUE_1=false
D=${TMPDIR:-/tmp}/git-orch-gitolite-$N; rm -rf "$D" "$D.worktrees"; mkdir -p "$D"; cd "$D"
export HOME=$D/home; mkdir -p "$HOME"
GH=$D/gitolite; LOG=$D/sshd.log; ME=$(id -un)
echo "load before: $(cat /proc/loadavg)"

# gitolite for this OS user, HOME $GH, admin key `admin`, coordinator key `coord`.
mkdir -p "$GH" keys
for k in admin coordinator host; do ssh-keygen -q -t ed25519 -N '' -C $k -f keys/$k; done
cp keys/admin.pub "$GH/admin.pub"
(cd "$GH" && HOME=$GH USER=$ME gitolite setup -pk "$GH/admin.pub" >/dev/null 2>&1)

# sshd of our own (the approach of tests/support/servers.rs, Sshd::start).
if [ "$(id -u)" = 0 ]; then PAM=no; mkdir -p /run/sshd; else PAM=yes; fi
SSHD=
stop() { # let the connections' own sshds finish, then stop the listener
  [ -n "$SSHD" ] || return 0; for i in $(seq 40); do pgrep -P $SSHD >/dev/null || break; sleep 0.05; done
  kill $SSHD 2>/dev/null; wait $SSHD 2>/dev/null || true; }
trap stop EXIT
for attempt in 1 2 3 4 5; do
  PORT=$(shuf -i 20000-60000 -n 1)
  cat > sshd_config <<EOF
ListenAddress 127.0.0.1:$PORT
HostKey $D/keys/host
AuthorizedKeysFile $GH/.ssh/authorized_keys
AuthenticationMethods publickey
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM $PAM
StrictModes no
PidFile none
PermitRootLogin prohibit-password
PermitTTY no
AllowTcpForwarding no
X11Forwarding no
PrintMotd no
UseDNS no
MaxStartups 64:30:128
AcceptEnv GIT_PROTOCOL
LogLevel INFO
SetEnv "HOME=$GH" "PATH=$BIN:/usr/local/bin:/usr/bin:/bin" "GIT_CONFIG_NOSYSTEM=1" "GIT_CONFIG_GLOBAL=/dev/null" "GIT_CONFIG_COUNT=3" "GIT_CONFIG_KEY_0=init.defaultBranch" "GIT_CONFIG_VALUE_0=main" "GIT_CONFIG_KEY_1=gc.autoDetach" "GIT_CONFIG_VALUE_1=false" "GIT_CONFIG_KEY_2=maintenance.autoDetach" "GIT_CONFIG_VALUE_2=false" "LC_ALL=C" "TZ=UTC"
EOF
  : > "$LOG"; /usr/sbin/sshd -D -e -f "$D/sshd_config" < /dev/null 2>> "$LOG" & SSHD=$!
  until grep -q "Server listening on 127.0.0.1 port $PORT" "$LOG" || ! kill -0 $SSHD 2>/dev/null; do sleep 0.05; done
  kill -0 $SSHD 2>/dev/null && break
  wait $SSHD || true; SSHD=
  grep -q "Bind to port" "$LOG" || { cat "$LOG" >&2; exit 1; }
done
[ -n "$SSHD" ] || { echo "sshd found no free port" >&2; exit 1; }
echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 keys/host.pub)" > known_hosts
ssh_as() { echo "ssh -F /dev/null -i $D/keys/$1 -o IdentitiesOnly=yes -o IdentityAgent=none -o UserKnownHostsFile=$D/known_hosts -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes -o LogLevel=ERROR -o KexAlgorithms=curve25519-sha256 -p $PORT"; }
URL=ssh://$ME@127.0.0.1:$PORT

# gitolite.conf: the coordinator may do anything on hub and hub2.
GIT_SSH_COMMAND=$(ssh_as admin) git clone -q "$URL/gitolite-admin" admin
printf 'repo gitolite-admin\n    RW+ = admin\n\nrepo hub hub2\n    RW+ = coordinator\n' > admin/conf/gitolite.conf
cp keys/coordinator.pub admin/keydir/
git -C admin add conf keydir && git -C admin commit -qm conf
GIT_SSH_COMMAND=$(ssh_as admin) git -C admin push -q origin master 2>/dev/null
export GIT_SSH_COMMAND=$(ssh_as coordinator)   # from here on, every client is the coordinator

# The coordinator c, both hubs made by `hub init` from c, N workers spawned in c,
# and c2, a copy of c whose origin is hub2.
git init -q -b main c && echo x > c/README && git -C c add . && git -C c commit -qm init
for h in hub hub2; do
  (cd c && git worker hub init "$GH/repositories/$h.git" >/dev/null 2>&1)
  git -C c push -q "$URL/$h" main
done
git -C c remote add origin "$URL/hub"
ids=$(seq -f "w%03g" 1 $N | tr '\n' ' ')
(cd c && git worker spawn $ids >/dev/null 2>&1)
cp -a c c2 && git -C c2 remote set-url origin "$URL/hub2"

conns() { grep -c 'Accepted publickey' "$LOG" || true; }
# run CMD...: time it (MS, in ms) and count the ssh connections it opened (CN).
run() {
  local c0 s e; c0=$(conns); s=$(date +%s%N)
  "$@" >> cmd.log 2>&1 || { echo "failed: $*" >&2; tail -20 cmd.log >&2; exit 1; }
  e=$(date +%s%N); MS=$(( (e - s) / 1000000 )); CN=$(( $(conns) - c0 ))
}
med() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
row() { # label ours_ms ours_conns plain_ms plain_conns
  printf '%-52s %8s %5s %8s %5s %7s\n' "$1" "$2" "$3" "$4" "$5" \
    "$(awk -v o="$2" -v p="$4" 'BEGIN { printf (p > 0 ? "%.2f" : "-"), o / p }')"
}
fetch_orch() { git -C "$1" fetch -q origin '+refs/orch/*:refs/orch/*'; }
push_orch() { git -C "$1" push -q origin 'refs/orch/*:refs/orch/*'; }
fetch_push() { fetch_orch "$1" && push_orch "$1"; }
fresh() { git clone -q -b main "$URL/$1" "$2"; }

echo "gitolite3 $(dpkg-query -W -f '${Version}' gitolite3 2>/dev/null) behind $(/usr/sbin/sshd -V 2>&1 | cut -d, -f1) on 127.0.0.1:$PORT; N=$N workers, R=$R runs"
echo "both hubs (hub: ours, hub2: plain) made by 'git worker hub init': every push pays git-orch's pre-receive chained to gitolite's hooks"
echo "ms: median of R runs (row 1: once); ssh: connections per run; ratio: ours/plain"
printf '%-52s %8s %5s %8s %5s %7s\n' "" "ours ms" "ssh" "plain ms" "ssh" "ratio"

run git -C c worker sync; o=$MS oc=$CN
run git -C c2 push -q origin 'refs/orch/*:refs/orch/*' 'refs/heads/orch/*:refs/heads/orch/*'
row "1. first sync (N entries+branches) vs push" $o $oc $MS $CN

O=() OC=() P=() PC=() Q=() QC=()
for i in $(seq 1 $R); do
  run git -C c worker sync; O+=($MS) OC+=($CN)
  run fetch_orch c2; P+=($MS) PC+=($CN)
  run fetch_push c2; Q+=($MS) QC+=($CN)
done
row "2. sync, nothing to do vs fetch refs/orch/*" $(med ${O[@]}) $(med ${OC[@]}) $(med ${P[@]}) $(med ${PC[@]})
row "2b. sync, nothing to do vs fetch + push refs/orch/*" $(med ${O[@]}) $(med ${OC[@]}) $(med ${Q[@]}) $(med ${QC[@]})

O=() OC=() P=() PC=()
for i in $(seq 1 $R); do
  fresh hub b; fresh hub2 p
  run git -C b worker sync; O+=($MS) OC+=($CN)
  run fetch_orch p; P+=($MS) PC+=($CN)
  rm -rf b p
done
row "3. sync in a fresh clone vs fetch refs/orch/*" $(med ${O[@]}) $(med ${OC[@]}) $(med ${P[@]}) $(med ${PC[@]})

O=() OC=() P=() PC=()
for i in $(seq 1 $R); do
  for id in $ids; do git -C c worker message $id x >/dev/null 2>&1; git -C c2 worker message $id x >/dev/null 2>&1; done
  if [ $((i % 2)) = 1 ]; then
    run git -C c worker sync; O+=($MS) OC+=($CN); run push_orch c2; P+=($MS) PC+=($CN)
  else
    run push_orch c2; P+=($MS) PC+=($CN); run git -C c worker sync; O+=($MS) OC+=($CN)
  fi
done
row "4. sync after 1 event on each worker vs push" $(med ${O[@]}) $(med ${OC[@]}) $(med ${P[@]}) $(med ${PC[@]})

for h in hub hub2; do echo "$h: $(git -C "$GH/repositories/$h.git" for-each-ref refs/orch refs/heads/orch | wc -l) refs under refs/orch and refs/heads/orch"; done
echo "c: $(git -C c for-each-ref refs/orch refs/heads/orch | wc -l), c2: $(git -C c2 for-each-ref refs/orch refs/heads/orch | wc -l)"
echo "load after: $(cat /proc/loadavg)"
