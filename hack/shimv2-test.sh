#!/usr/bin/env bash
# containerd-shim-berth-v2 under a real containerd 1.6, driven with ctr:
# run, exec, terminals, pause/resume, ps, metrics, update, kill --all, exit
# codes, OOM events, one shim per pod (sandbox-id annotation), containerd
# killed -9 and restarted mid-way, and nothing left behind.
#
#   hack/shimv2-test.sh BIN_DIR
#
# BIN_DIR holds containerd-shim-berth-v2 and berth-runtime (and shimctl,
# the example that calls Update/Wait on a shim's socket: ctr 1.6 has no
# `task update` and no `task wait`). Everything lives under one temp dir:
# its own containerd (--root/--state/socket, CRI off), runtime root and
# image; torn down by the EXIT trap, on failure or a signal too. Prints
# `N passed, N failed, N skipped` last; exits non-zero if anything failed.
set -uo pipefail

if [ $# -ne 1 ] || [ ! -x "$1/containerd-shim-berth-v2" ] || [ ! -x "$1/berth-runtime" ]; then
    echo "usage: $0 BIN_DIR (with containerd-shim-berth-v2 and berth-runtime)" >&2
    exit 2
fi
BIN=$(readlink -f "$1")
SHIMCTL=$BIN/examples/shimctl
[ -x "$SHIMCTL" ] || SHIMCTL=$BIN/shimctl
for tool in containerd ctr script timeout /bin/busybox sha256sum; do
    command -v "$tool" >/dev/null || { echo "missing $tool: run the setup script (apt)" >&2; exit 2; }
done
[ -x "$SHIMCTL" ] || { echo "missing $BIN/examples/shimctl: cargo build -p containerd-shim-berth --example shimctl" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "must run as root" >&2; exit 2; }

# The whole run is bounded; the trap still cleans up when it fires (a
# minute of grace before the KILL).
if [ -z "${SHIMV2_TEST_TIMED:-}" ]; then
    SHIMV2_TEST_TIMED=1 exec timeout -k 60 300 "$0" "$@"
fi

. "$(dirname "$0")/lib/ctrd.sh"
W=$(mktemp -d /tmp/berth-shimv2.XXXXXX)
TAG=s$$
NS=berth-shimv2-$TAG
IMG=localhost/berth-busybox:$TAG
RT=io.containerd.berth.v2
CTRD_SOCK=$W/ctrd/c.sock
# containerd and the shims make these if they are missing; we take them
# back only then.
LEFT=()
for f in /run/containerd/s /run/containerd/fifo /run/containerd/berth /run/containerd; do
    [ -e "$f" ] || LEFT+=("$f")
done

c() { ctr --address "$CTRD_SOCK" --namespace "$NS" "$@"; }
# ctr run with our runtime; the config file names the runtime binary and a
# runtime root of our own.
cr() { c run --runtime "$RT" --runtime-config-path "$W/rt.toml" "$@"; }

# Our containerd's shims: each names its address on the command line.
shim_pids() {
    local p
    for p in /proc/[0-9]*; do
        tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q "containerd-shim-berth-v2 -namespace $NS .*-address $CTRD_SOCK " &&
            echo "${p#/proc/}"
    done
    return 0
}

cleanup() {
    set +e
    # A wedged shim must not wedge the cleanup.
    c() { timeout 10 ctr --address "$CTRD_SOCK" --namespace "$NS" "$@"; }
    if [ -n "$CTRD_PID" ] && kill -0 "$CTRD_PID" 2>/dev/null; then
        for t in $(c task ls -q 2>/dev/null); do
            c task kill -a -s SIGKILL "$t" >/dev/null 2>&1
        done
        sleep 0.3
        for t in $(c task ls -q 2>/dev/null); do c task delete -f "$t" >/dev/null 2>&1; done
        for ct in $(c container ls -q 2>/dev/null); do c container delete "$ct" >/dev/null 2>&1; done
        for i in $(c image ls -q 2>/dev/null); do c image rm "$i" >/dev/null 2>&1; done
        kill "$CTRD_PID" 2>/dev/null
        wait "$CTRD_PID" 2>/dev/null
    fi
    local p
    for p in $(shim_pids); do kill -9 "$p" 2>/dev/null; done
    for p in $(cat "$W"/events.pid 2>/dev/null); do kill "$p" 2>/dev/null; done
    # The shims' sockets (each bundle's `address` file named one).
    for p in $(cat "$W/sockets" 2>/dev/null); do rm -f "${p#unix://}"; done
    local cg
    for cg in /sys/fs/cgroup/*/"$NS"/* /sys/fs/cgroup/unified/"$NS"/*; do
        [ -d "$cg" ] && rmdir "$cg" 2>/dev/null
    done
    for cg in /sys/fs/cgroup/*/"$NS" /sys/fs/cgroup/"$NS"; do
        [ -d "$cg" ] && rmdir "$cg" 2>/dev/null
    done
    awk -v w="$W" '$5 == w || index($5, w "/") == 1 { print $5 }' /proc/self/mountinfo |
        sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
    rm -rf "$W" /run/containerd/berth/"$NS"
    for f in "${LEFT[@]}"; do rmdir "$f" 2>/dev/null; done
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

passed=0 failed=0 skipped=0
check() {
    local name=$1 rc
    shift
    "$@" >"$W/out" 2>&1
    rc=$?
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
        echo "ok - $name"
    else
        failed=$((failed + 1))
        echo "not ok - $name"
        sed 's/^/  # /' "$W/out" | tail -20
    fi
}
expect() {
    local re=$1 out
    shift
    out=$("$@" 2>&1) || { echo "failed ($?): $*"; echo "$out"; return 1; }
    grep -Eq -- "$re" <<<"$out" || { echo "output of $* does not match /$re/:"; echo "$out"; return 1; }
}
# want_rc N CMD...: CMD exits with N.
want_rc() {
    local want=$1 rc
    shift
    "$@"
    rc=$?
    [ "$rc" -eq "$want" ] || { echo "exit status $rc, want $want: $*"; return 1; }
}
# until_ok CMD...: CMD succeeds within 5 s.
until_ok() {
    local i
    for i in $(seq 1 50); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    "$@"
}
task_status() { c task ls | awk -v t="$1" '$1 == t { print $3 }'; }
task_pid() { c task ls | awk -v t="$1" '$1 == t { print $2 }'; }
bundle() { echo "$W/ctrd/state/io.containerd.runtime.v2.task/$NS/$1"; }
shim_address() { cat "$(bundle "$1")/address"; }
note_socket() { shim_address "$1" >>"$W/sockets" 2>/dev/null; }
# The v1 cgroup dir of a task for CONTROLLER.
cg_dir() { echo "/sys/fs/cgroup/$2/$(awk -F: -v c="$2" '$2 ~ "(^|,)" c "(,|$)" { print $3 }' "/proc/$(task_pid "$1")/cgroup")"; }

# ---- setup ----
start_containerd() { ctrd_start "$W/ctrd" "$BIN"; }
import_image() {
    busybox_oci_archive "$W/image.tar" "$IMG" || return 1
    c image import "$W/image.tar" || return 1
    expect "$IMG" c image ls -q
}

printf 'BinaryName = "%s"\nRoot = "%s"\n' "$BIN/berth-runtime" "$W/rt-root" >"$W/rt.toml"
echo "# shim: $BIN/containerd-shim-berth-v2"
echo "# workdir: $W"
check "setup: a private containerd with $BIN first in PATH" start_containerd
check "setup: import a busybox OCI image made here" import_image
# Every event containerd receives, until it is killed for the restart test.
c events >"$W/events" 2>&1 &
echo $! >>"$W/events.pid"

# ---- run ----
check "run --rm: output" expect '^hello from berth$' cr --rm "$IMG" "r1-$TAG" echo hello from berth
check "run --rm: exit code 3 is ctr's" want_rc 3 cr --rm "$IMG" "r2-$TAG" sh -c 'exit 3'
run_stdin() { echo from-stdin | cr --rm "$IMG" "r4-$TAG" cat; }
check "run --rm: stdin reaches the container, EOF too" expect '^from-stdin$' run_stdin
check "run --rm: stderr" expect '^to-stderr$' cr --rm "$IMG" "r5-$TAG" sh -c 'echo to-stderr >&2'
run_default() {
    # No runtime options: berth-runtime next to the shim, root under
    # /run/containerd/berth/<namespace>.
    expect '^default-ok$' c run --rm --runtime "$RT" "$IMG" "r6-$TAG" echo default-ok || return 1
    [ -d "/run/containerd/berth/$NS" ] || { echo "no runtime root /run/containerd/berth/$NS"; return 1; }
}
check "run --rm: the default runtime binary and root" run_default
create_fails() {
    local out B=bad-$TAG
    out=$(cr --rm "$IMG" "$B" /no/such/binary 2>&1) && { echo "ctr run succeeded: $out"; return 1; }
    grep -q '/no/such/binary' <<<"$out" || { echo "the runtime's error does not reach ctr:"; echo "$out"; return 1; }
    c container delete "$B" >/dev/null 2>&1
    sleep 0.3
    if c task ls | grep -q "^$B "; then echo "task left"; return 1; fi
    [ ! -e "$(bundle "$B")" ] || { echo "bundle left: $(bundle "$B")"; return 1; }
    [ ! -e "$W/rt-root/$B" ] || { echo "runtime state left"; return 1; }
    if shim_pids | grep -q .; then echo "a shim is left: $(shim_pids)"; return 1; fi
}
check "run: a missing binary fails with the runtime's error, nothing left" create_fails

# ---- detached: exec, kill, wait, delete ----
D=d-$TAG
lifecycle() {
    cr -d "$IMG" "$D" sleep 1000 || return 1
    note_socket "$D"
    expect "^$D +[0-9]+ +RUNNING" c task ls || return 1
    expect '^exec-ok$' c task exec --exec-id e1 "$D" echo exec-ok || return 1
    want_rc 7 c task exec --exec-id e2 "$D" sh -c 'exit 7' || return 1
    want_rc 137 c task exec --exec-id e3 "$D" sh -c 'kill -9 $$' || return 1
    expect '^sleep$' c task exec --exec-id e4 "$D" cat /proc/1/comm
}
check "run -d: RUNNING, exec output, exit code, killed exec is 128+9" lifecycle
exec_tty() {
    # ctr's console (or script's) may put a stray NUL ("^@") before the
    # output, as docker's and podman's do in hack/engines-test.sh.
    expect '^(\^@)?/dev/pts/[0-9]+' script -qec "ctr --address $CTRD_SOCK --namespace $NS task exec -t --exec-id et $D tty" /dev/null
}
check "exec -t: a terminal (through script)" exec_tty
check "ps: the init pid is listed" expect "^ *$(task_pid "$D") " c task ps "$D"
pause_resume() {
    local fz
    fz=$(cg_dir "$D" freezer)
    c task pause "$D" || return 1
    expect '^FROZEN$' cat "$fz/freezer.state" || return 1
    expect "^$D +[0-9]+ +PAUSED" c task ls || return 1
    c task resume "$D" || return 1
    expect '^THAWED$' cat "$fz/freezer.state" || return 1
    expect "^$D +[0-9]+ +RUNNING" c task ls
}
check "pause/resume: the freezer cgroup, the task status" pause_resume
metrics() {
    local out usage pids
    out=$(c task metrics "$D") || { echo "$out"; return 1; }
    usage=$(awk '$1 == "memory.usage_in_bytes" { print $2 }' <<<"$out")
    pids=$(awk '$1 == "pids.current" { print $2 }' <<<"$out")
    [ "${usage:-0}" -gt 0 ] && [ "${pids:-0}" -ge 1 ] || { echo "no real numbers:"; echo "$out"; return 1; }
    # The same as the cgroup says.
    expect "^$(cat "$(cg_dir "$D" pids)/pids.current")\$" echo "$pids"
}
check "metrics: memory usage and pids from the cgroup" metrics
update() {
    local mem
    mem=$(cg_dir "$D" memory)
    echo '{"memory":{"limit":67108864},"pids":{"limit":99}}' >"$W/res.json"
    "$SHIMCTL" "$(shim_address "$D")" update "$D" "$W/res.json" || return 1
    expect '^67108864$' cat "$mem/memory.limit_in_bytes" || return 1
    expect '^99$' cat "$(cg_dir "$D" pids)/pids.max"
}
check "update (Update on the shim's socket): memory and pids limits in the cgroup" update
kill_wait_delete() {
    local addr
    addr=$(shim_address "$D")
    "$SHIMCTL" "$addr" wait "$D" >"$W/wait.out" 2>&1 &
    local wp=$!
    sleep 0.2
    kill -0 "$wp" 2>/dev/null || { echo "Wait returned before the kill:"; cat "$W/wait.out"; return 1; }
    c task kill -s SIGKILL "$D" || return 1
    wait "$wp" || { cat "$W/wait.out"; return 1; }
    expect '^137$' cat "$W/wait.out" || return 1
    until_ok sh -c "ctr --address $CTRD_SOCK --namespace $NS task ls | grep -q '^$D .*STOPPED'" || return 1
    expect 'exit code 137' c task delete "$D" || return 1
    c container delete "$D" || return 1
    ! c task ls | grep -q "^$D "
}
check "kill, Wait (137), delete" kill_wait_delete

# ---- terminal run ----
run_tty() {
    expect '^(\^@)?/dev/pts/0' script -qec "ctr --address $CTRD_SOCK --namespace $NS run --runtime $RT --runtime-config-path $W/rt.toml --rm -t $IMG t-$TAG sh -c 'tty; sleep 0.2'" /dev/null
}
check "run -t: a terminal (through script)" run_tty
resize() {
    local T=rz-$TAG
    # The container's terminal size, as its own shell sees it, into a file.
    # ctr wants a console for -t, even detached: script(1) gives it one.
    script -qec "ctr --address $CTRD_SOCK --namespace $NS run --runtime $RT --runtime-config-path $W/rt.toml -d -t $IMG $T sh -c 'while :; do stty size >/tmp/size.new && mv /tmp/size.new /tmp/size; sleep 0.1; done'" /dev/null || return 1
    note_socket "$T"
    "$SHIMCTL" "$(shim_address "$T")" resize "$T" 123 45 || return 1
    until_ok sh -c "ctr --address $CTRD_SOCK --namespace $NS task exec --exec-id s1 $T cat /tmp/size | grep -qx '45 123'" ||
        { c task exec --exec-id s2 "$T" cat /tmp/size; return 1; }
    c task kill -s SIGKILL "$T" || return 1
    until_ok sh -c "ctr --address $CTRD_SOCK --namespace $NS task ls | grep -q '^$T .*STOPPED'" || return 1
    c task delete "$T" >/dev/null 2>&1
    c container delete "$T"
}
check "ResizePty: the container's terminal takes the new size (stty size)" resize

# ---- kill --all ----
kill_all() {
    local K=k-$TAG
    cr -d "$IMG" "$K" sh -c 'sleep 1000 & sleep 1000 & wait' || return 1
    note_socket "$K"
    # The shell starts its two sleeps after ctr returns.
    until_ok sh -c "[ \$(ctr --address $CTRD_SOCK --namespace $NS task ps $K | tail -n +2 | wc -l) -eq 3 ]" ||
        { echo "not 3 processes:"; c task ps "$K"; return 1; }
    c task kill -a -s SIGKILL "$K" || return 1
    until_ok sh -c "ctr --address $CTRD_SOCK --namespace $NS task ls | grep -q '^$K .*STOPPED'" || return 1
    c task delete "$K" >/dev/null
    c container delete "$K"
}
check "kill --all: every process of the container" kill_all

# ---- OOM ----
oom() {
    local O=o-$TAG
    # A shell variable of 256 MiB under a 32 MiB limit.
    want_rc 137 cr --rm --memory-limit 33554432 "$IMG" "$O" sh -c 'a=$(head -c 268435456 /dev/zero | tr "\000" x); echo ${#a}' || return 1
    until_ok grep -q "/tasks/oom .*$O" "$W/events" || { cat "$W/events"; grep -i oom "$W/ctrd/log"; return 1; }
}
check "OOM: killed at its memory limit, /tasks/oom in ctr events" oom
events() {
    local t bad=0
    for t in create start exec-added exec-started exit delete paused resumed; do
        grep -q "/tasks/$t .*\"$D\"" "$W/events" || { echo "no /tasks/$t for $D"; bad=1; }
    done
    [ $bad = 0 ] || cat "$W/events"
    return $bad
}
check "events: create, start, exec-added, exec-started, exit, delete, paused, resumed" events

# ---- one shim per pod ----
POD=pod-$TAG
G1=g1-$TAG G2=g2-$TAG
pod_one_shim() {
    local before after
    before=$(shim_pids | wc -l)
    cr -d --annotation "io.kubernetes.cri.sandbox-id=$POD" "$IMG" "$G1" sleep 1000 || return 1
    cr -d --annotation "io.kubernetes.cri.sandbox-id=$POD" "$IMG" "$G2" sleep 1000 || return 1
    note_socket "$G1"
    after=$(shim_pids | wc -l)
    [ $((after - before)) -eq 1 ] || { echo "$((after - before)) new shims for a pod of 2"; return 1; }
    [ "$(shim_address "$G1")" = "$(shim_address "$G2")" ] || { echo "two addresses"; return 1; }
    local s1 s2
    s1=$("$SHIMCTL" "$(shim_address "$G1")" connect "$G1" | cut -d' ' -f1)
    s2=$("$SHIMCTL" "$(shim_address "$G2")" connect "$G2" | cut -d' ' -f1)
    [ "$s1" = "$s2" ] || { echo "shim pids $s1 and $s2"; return 1; }
    expect '^g2$' c task exec --exec-id x "$G2" echo g2
}
check "pod: two containers with one sandbox-id share one shim" pod_one_shim
pod_first_goes() {
    local shim
    shim=$("$SHIMCTL" "$(shim_address "$G2")" connect "$G2" | cut -d' ' -f1)
    c task kill -s SIGKILL "$G1" || return 1
    until_ok sh -c "ctr --address $CTRD_SOCK --namespace $NS task ls | grep -q '^$G1 .*STOPPED'" || return 1
    c task delete "$G1" >/dev/null
    c container delete "$G1" || return 1
    sleep 0.3
    kill -0 "$shim" || { echo "the pod's shim went with its first container"; return 1; }
    expect '^still$' c task exec --exec-id y "$G2" echo still
}
check "pod: deleting one container keeps the shim for the other" pod_first_goes

# ---- containerd killed and restarted ----
restart() {
    local R=rs-$TAG
    cr -d "$IMG" "$R" sleep 1000 || return 1
    note_socket "$R"
    local pid
    pid=$(task_pid "$R")
    kill -9 "$CTRD_PID"
    wait "$CTRD_PID" 2>/dev/null
    CTRD_PID=
    kill -0 "$pid" || { echo "the container died with containerd"; return 1; }
    start_containerd || return 1
    expect "^$R +$pid +RUNNING" c task ls || return 1
    expect "^$G2 +[0-9]+ +RUNNING" c task ls || return 1
    expect '^after-restart$' c task exec --exec-id e "$R" echo after-restart || return 1
    c task kill -s SIGKILL "$R" || return 1
    until_ok sh -c "ctr --address $CTRD_SOCK --namespace $NS task ls | grep -q '^$R .*STOPPED'" || return 1
    expect 'exit code 137' c task delete "$R" || return 1
    c container delete "$R"
}
check "containerd kill -9 and restart: tasks still RUNNING, exec, kill, delete" restart
restart_events() {
    # The exit of G2 reaches the new containerd (the shim reconnects).
    c task kill -s SIGKILL "$G2" || return 1
    until_ok sh -c "ctr --address $CTRD_SOCK --namespace $NS task ls | grep -q '^$G2 .*STOPPED'" || return 1
    expect 'exit code 137' c task delete "$G2" || return 1
    c container delete "$G2"
}
check "after the restart: the pod's last container exits and is deleted" restart_events

# ---- the shim killed ----
shim_dies() {
    local S=sd-$TAG pid shim
    cr -d "$IMG" "$S" sleep 1000 || return 1
    note_socket "$S"
    pid=$(task_pid "$S")
    shim=$("$SHIMCTL" "$(shim_address "$S")" connect "$S" | cut -d' ' -f1)
    kill -9 "$shim" || return 1
    # containerd runs `containerd-shim-berth-v2 delete` in the bundle: the
    # container goes with the runtime's `delete --force`.
    until_ok sh -c "! kill -0 $pid 2>/dev/null" || { echo "container $pid outlived its shim"; return 1; }
    until_ok sh -c "! ctr --address $CTRD_SOCK --namespace $NS task ls | grep -q '^$S .*RUNNING'" ||
        { c task ls; return 1; }
    c task delete "$S" >/dev/null 2>&1
    c container delete "$S" || return 1
    [ ! -e "$(bundle "$S")" ] || { echo "bundle left"; return 1; }
    [ ! -e "$W/rt-root/$S" ] || { echo "runtime state left"; return 1; }
    if grep -q "/$S/rootfs " /proc/self/mountinfo; then echo "rootfs still mounted"; return 1; fi
}
check "shim killed -9: containerd's \`delete\` takes the container down, nothing left" shim_dies

# ---- nothing left ----
nothing_left() {
    local bad=0 p
    sleep 0.5
    p=$(shim_pids)
    [ -z "$p" ] || { echo "shims still running: $p"; bad=1; }
    for p in $(sort -u "$W/sockets"); do
        [ -e "${p#unix://}" ] && { echo "socket left: $p"; bad=1; }
    done
    if [ -d "$W/ctrd/state/io.containerd.runtime.v2.task/$NS" ] &&
        [ -n "$(ls -A "$W/ctrd/state/io.containerd.runtime.v2.task/$NS")" ]; then
        echo "bundles left:"; ls "$W/ctrd/state/io.containerd.runtime.v2.task/$NS"; bad=1
    fi
    if grep -q " $W/ctrd/state" /proc/self/mountinfo; then
        echo "mounts left:"; grep " $W/ctrd/state" /proc/self/mountinfo; bad=1
    fi
    local cg
    for cg in /sys/fs/cgroup/*/"$NS"/*/; do
        [ -d "$cg" ] && { echo "cgroup left: $cg"; bad=1; }
    done
    [ -z "$(ls -A "$W/rt-root" 2>/dev/null)" ] || { echo "runtime state left:"; ls "$W/rt-root"; bad=1; }
    return $bad
}
check "nothing left: no shim, socket, bundle, mount, cgroup or runtime state" nothing_left

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
