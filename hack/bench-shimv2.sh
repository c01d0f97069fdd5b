#!/usr/bin/env bash
# Memory of containerd-shim-berth-v2 (with berth-runtime) next to
# containerd-shim-runc-v2 (with runc), under one private containerd, in one
# run: N pods of 1 container, then 2 more containers in each pod (pods share
# a shim through the io.kubernetes.cri.sandbox-id annotation with either
# shim). Reports the shims' idle RSS per pod and per extra container and
# prints a markdown table. Not part of hack/test.
#
#   hack/bench-shimv2.sh [BIN_DIR] [N]
#
# BIN_DIR defaults to target/<triple>/release (cargo build --release -p
# containerd-shim-berth -p berth-runtime); N to 5.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=$(readlink -f "${1:-target/$(hack/triple)/release}")
N=${2:-5}
for f in "$BIN/containerd-shim-berth-v2" "$BIN/berth-runtime"; do
    [ -x "$f" ] || { echo "missing $f: cargo build --release -p containerd-shim-berth -p berth-runtime" >&2; exit 2; }
done
for tool in containerd ctr containerd-shim-runc-v2 runc /bin/busybox; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "must run as root" >&2; exit 2; }
. hack/lib/ctrd.sh

W=$(mktemp -d /tmp/berth-bench-shimv2.XXXXXX)
TAG=b$$
NS=berth-bench-shimv2-$TAG
IMG=localhost/berth-busybox:$TAG
SOCK=$W/ctrd/c.sock
LEFT=()
for f in /run/containerd/s /run/containerd/fifo /run/containerd/runc /run/containerd; do
    [ -e "$f" ] || LEFT+=("$f")
done
c() { timeout 30 ctr --address "$SOCK" --namespace "$NS" "$@"; }

shim_pids() {
    local p
    for p in /proc/[0-9]*; do
        tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q "containerd-shim-$1-v2 -namespace $NS .*-address $SOCK " &&
            echo "${p#/proc/}"
    done
    return 0
}
rss_kib() {
    local p sum=0
    for p in "$@"; do
        sum=$((sum + $(awk '/^VmRSS/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)))
    done
    echo "$sum"
}

# Proportional: the binary's pages shared by all the shims counted once.
pss_kib() {
    local p sum=0
    for p in "$@"; do
        sum=$((sum + $(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)))
    done
    echo "$sum"
}

cleanup() {
    set +e
    if [ -n "$CTRD_PID" ]; then
        for t in $(c task ls -q 2>/dev/null); do c task kill -s SIGKILL "$t" >/dev/null 2>&1; done
        sleep 0.5
        for t in $(c task ls -q 2>/dev/null); do c task delete -f "$t" >/dev/null 2>&1; done
        for ct in $(c container ls -q 2>/dev/null); do c container delete "$ct" >/dev/null 2>&1; done
        for i in $(c image ls -q 2>/dev/null); do c image rm "$i" >/dev/null 2>&1; done
        kill "$CTRD_PID" 2>/dev/null
        wait "$CTRD_PID" 2>/dev/null
    fi
    for p in $(shim_pids berth) $(shim_pids runc); do kill -9 "$p" 2>/dev/null; done
    for cg in /sys/fs/cgroup/*/"$NS" /sys/fs/cgroup/"$NS"; do [ -d "$cg" ] && rmdir "$cg" 2>/dev/null; done
    awk -v w="$W" '$5 == w || index($5, w "/") == 1 { print $5 }' /proc/self/mountinfo |
        sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
    rm -rf "$W" /run/containerd/runc/"$NS"
    for f in "${LEFT[@]}"; do rmdir "$f" 2>/dev/null; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ctrd_start "$W/ctrd" "$BIN" >/dev/null || { echo "containerd did not start" >&2; exit 1; }
busybox_oci_archive "$W/image.tar" "$IMG" && c image import "$W/image.tar" >/dev/null ||
    { echo "image import failed" >&2; exit 1; }
printf 'BinaryName = "%s"\nRoot = "%s"\n' "$BIN/berth-runtime" "$W/rt-root" >"$W/rt.toml"

# run_pods KIND FROM TO: containers FROM..TO in each of the N pods.
run_in_pods() {
    local kind=$1 from=$2 to=$3 i j rt
    for i in $(seq 1 "$N"); do
        for j in $(seq "$from" "$to"); do
            if [ "$kind" = berth ]; then
                rt=(--runtime io.containerd.berth.v2 --runtime-config-path "$W/rt.toml")
            else
                rt=(--runtime io.containerd.runc.v2)
            fi
            c run -d "${rt[@]}" --annotation "io.kubernetes.cri.sandbox-id=$kind-pod$i" \
                "$IMG" "$kind-p$i-c$j" sleep 100000 >/dev/null || { echo "run $kind-p$i-c$j failed" >&2; exit 1; }
        done
    done
}
settle() { sleep 2; }

declare -A ONE THREE SHIMS PSS
for kind in berth runc; do
    run_in_pods "$kind" 1 1
    settle
    ONE[$kind]=$(rss_kib $(shim_pids "$kind"))
    run_in_pods "$kind" 2 3
    settle
    THREE[$kind]=$(rss_kib $(shim_pids "$kind"))
    PSS[$kind]=$(pss_kib $(shim_pids "$kind"))
    SHIMS[$kind]=$(shim_pids "$kind" | wc -l)
done

mib() { awk -v k="$1" -v n="$2" 'BEGIN { printf "%.2f MiB", k / n / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "x%.2f", a / b; else print "-" }'; }
extra() { echo $(((THREE[$1] - ONE[$1]))); }

echo
echo "containerd $(containerd --version | awk '{print $3}'), $N pods, idle RSS of the shims (VmRSS), release build"
echo
echo "| | containerd-shim-berth-v2 + berth-runtime | containerd-shim-runc-v2 + runc | ratio |"
echo "|---|---|---|---|"
echo "| shims for $N pods of 3 containers | ${SHIMS[berth]} | ${SHIMS[runc]} | |"
echo "| RSS per pod of 1 container | $(mib "${ONE[berth]}" "$N") | $(mib "${ONE[runc]}" "$N") | $(ratio "${ONE[berth]}" "${ONE[runc]}") |"
echo "| RSS per pod of 3 containers | $(mib "${THREE[berth]}" "$N") | $(mib "${THREE[runc]}" "$N") | $(ratio "${THREE[berth]}" "${THREE[runc]}") |"
echo "| PSS per pod of 3 containers | $(mib "${PSS[berth]}" "$N") | $(mib "${PSS[runc]}" "$N") | $(ratio "${PSS[berth]}" "${PSS[runc]}") |"
echo "| RSS per extra container in a pod | $(mib "$(extra berth)" $((2 * N))) | $(mib "$(extra runc)" $((2 * N))) | $(ratio "$(extra berth)" "$(extra runc)") |"
