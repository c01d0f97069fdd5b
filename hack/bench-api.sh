#!/usr/bin/env bash
# docker's Engine API served by `berth serve` next to a private dockerd 20.10
# (with runc), in one run on one machine, through the same docker CLI:
#   1. `docker run --rm --network none IMG true`, timed by hyperfine
#   2. idle memory: the berth server against dockerd + its containerd
#   3. `GET /containers/json?all=1` with 100 containers in each store
#   4. the berth server's RSS and open fds before and after 1000 requests
#
#   hack/bench-api.sh [RUNS]        (hyperfine runs per command, default 20)
#
# Env: BIN (a dir with release berth, berth-shim, berth-runtime; default:
# build them), KEEP=1 to keep the temp dir. Prints a table with ratios.
set -uo pipefail

RUNS=${1:-20}
REPO=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${BIN:-}" ]; then
    CARGO_BUILD_TARGET=${CARGO_BUILD_TARGET:-$("$REPO/hack/triple")}
    export CARGO_BUILD_TARGET
    (cd "$REPO" && cargo build --release -q -p berth -p berth-shim -p berth-runtime) || exit 1
    BIN=${CARGO_TARGET_DIR:-$REPO/target}/$CARGO_BUILD_TARGET/release
fi
for tool in hyperfine /usr/sbin/dockerd /usr/bin/docker curl jq; do
    command -v "$tool" >/dev/null || { echo "missing $tool: run hack/setup" >&2; exit 2; }
done

W=$(mktemp -d /tmp/berth-bench-api.XXXXXX)
# shellcheck source=hack/lib/docker.sh
. "$REPO/hack/lib/docker.sh"
host_leftovers_note
BPID=
cleanup() {
    set +e
    if [ -S "$W/berth.sock" ]; then
        ids=$(docker -H "unix://$W/berth.sock" ps -aq)
        [ -z "$ids" ] || docker -H "unix://$W/berth.sock" rm -f $ids >/dev/null 2>&1
    fi
    [ -n "$BPID" ] && kill "$BPID" 2>/dev/null && wait "$BPID" 2>/dev/null
    dockerd_stop
    # dockerd leaves its --cgroup-parent behind, empty.
    for cg in /sys/fs/cgroup/*/"berth-bench-api-$$" /sys/fs/cgroup/"berth-bench-api-$$"; do
        [ -d "$cg" ] && rmdir "$cg" 2>/dev/null
    done
    host_leftovers_clean
    [ "${KEEP:-}" = 1 ] || rm -rf "$W"
}
trap cleanup EXIT

wait_sock() {
    local i
    for i in $(seq 1 200); do
        curl -sf --unix-socket "$1" http://d/_ping >/dev/null && return 0
        sleep 0.1
    done
    echo "no server on $1" >&2
    return 1
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# The image: busybox-static, as a docker-archive both servers load.
mkdir -p "$W/rootfs/bin"
cp /bin/busybox "$W/rootfs/bin/"
ln -s busybox "$W/rootfs/bin/sh"
ln -s busybox "$W/rootfs/bin/true"
tar -C "$W/rootfs" -cf "$W/rootfs.tar" .
IMG=benchapi/busybox:1
"$BIN/berth" --root "$W/prep" import -c 'CMD ["sh"]' "$W/rootfs.tar" "$IMG" >/dev/null
"$BIN/berth" --root "$W/prep" save -o "$W/bb.tar" "$IMG"

mkdir -p "$W/berth/networks"
echo "{\"bridge_prefix\":\"bb$$\",\"pool\":\"10.194.0.0/16\"}" >"$W/berth/networks/config.json"
"$BIN/berth" --root "$W/berth" serve -H "unix://$W/berth.sock" >"$W/berth.log" 2>&1 &
BPID=$!
dockerd_start "$W/docker" --cgroup-parent "/berth-bench-api-$$" --bridge none || exit 1
DPID=$DOCKERD_PID
wait_sock "$W/berth.sock" && wait_sock "$W/docker/docker.sock" || exit 1
B="docker -H unix://$W/berth.sock"
D="docker -H unix://$W/docker/docker.sock"
$B load -i "$W/bb.tar" >/dev/null && $D load -i "$W/bb.tar" >/dev/null || exit 1
$B run --rm --network none "$IMG" true && $D run --rm --network none "$IMG" true || exit 1

sleep 2
idle_b=$(rss_kb "$BPID")
ctrd=$(for p in /proc/[0-9]*; do tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q "^containerd .*$W/docker/" && echo "${p#/proc/}"; done | head -1)
[ -n "$ctrd" ] || { echo "dockerd's containerd not found" >&2; exit 1; }
idle_d=$(( $(rss_kb "$DPID") + $(rss_kb "$ctrd") ))

hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$W/run.json" \
    -n berth "$B run --rm --network none $IMG true" \
    -n dockerd "$D run --rm --network none $IMG true" >"$W/hf-run.log" 2>&1 || { cat "$W/hf-run.log"; exit 1; }
run_b=$(jq '.results[] | select(.command=="berth") | .mean * 1000' "$W/run.json")
run_d=$(jq '.results[] | select(.command=="dockerd") | .mean * 1000' "$W/run.json")

for i in $(seq 1 100); do
    $B create --network none "$IMG" true >/dev/null
    $D create --network none "$IMG" true >/dev/null
done
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$W/list.json" \
    -n berth "curl -sf --unix-socket $W/berth.sock http://d/v1.41/containers/json?all=1 -o /dev/null" \
    -n dockerd "curl -sf --unix-socket $W/docker/docker.sock http://d/v1.41/containers/json?all=1 -o /dev/null" \
    >"$W/hf-list.log" 2>&1 || { cat "$W/hf-list.log"; exit 1; }
list_b=$(jq '.results[] | select(.command=="berth") | .mean * 1000' "$W/list.json")
list_d=$(jq '.results[] | select(.command=="dockerd") | .mean * 1000' "$W/list.json")

rss0=$(rss_kb "$BPID") fd0=$(ls "/proc/$BPID/fd" | wc -l)
for i in $(seq 1 250); do
    printf 'url = "http://d/_ping"\noutput = /dev/null\nurl = "http://d/v1.41/containers/json?all=1"\noutput = /dev/null\nurl = "http://d/v1.41/info"\noutput = /dev/null\nurl = "http://d/v1.41/containers/nope/json"\noutput = /dev/null\n'
done >"$W/curl.cfg"
curl -s --unix-socket "$W/berth.sock" -K "$W/curl.cfg" >/dev/null
sleep 11 # tokio's idle blocking threads leave after 10 s
rss1=$(rss_kb "$BPID") fd1=$(ls "/proc/$BPID/fd" | wc -l)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "x%.2f", a / b }'; }
printf '\n%-44s %12s %12s %8s\n' "" "berth serve" "dockerd" "ratio"
printf '%-44s %10.1fms %10.1fms %8s\n' "docker run --rm --network none IMG true" "$run_b" "$run_d" "$(ratio "$run_b" "$run_d")"
printf '%-44s %10dKB %10dKB %8s\n' "idle RSS (dockerd: + its containerd)" "$idle_b" "$idle_d" "$(ratio "$idle_b" "$idle_d")"
printf '%-44s %10.1fms %10.1fms %8s\n' "GET /containers/json, 100 containers" "$list_b" "$list_d" "$(ratio "$list_b" "$list_d")"
printf '%-44s %s KB -> %s KB, fds %s -> %s\n' "berth serve over 1000 requests" "$rss0" "$rss1" "$fd0" "$fd1"
