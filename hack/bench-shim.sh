#!/bin/sh
# Memory of an idle per-container shim: berth-shim next to podman's conmon,
# same busybox rootfs, same runtime, same machine, same run.
#
#   hack/bench-shim.sh [N]        (N containers of each kind, default 10)
#
# Env: RUNTIME (crun|runc, default crun), BERTH_SHIM (a built binary; default:
# build the release one), KEEP=1 to leave the temp dir for inspection.
#
# For each shim process it reads /proc/PID/status (VmRSS) and
# /proc/PID/smaps_rollup (Pss, and Private_Clean+Private_Dirty = USS), and
# prints the averages. RSS counts every mapped page, shared or not (conmon's
# glib, libc, libsystemd...; our static text); PSS shares them out among the
# processes that map them; USS is what exiting the process would free.
set -eu

N=${1:-10}
RUNTIME=${RUNTIME:-crun}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d /tmp/berth-bench-shim.XXXXXX)

if [ -z "${BERTH_SHIM:-}" ]; then
    CARGO_BUILD_TARGET=${CARGO_BUILD_TARGET:-$("$ROOT/hack/triple")}
    export CARGO_BUILD_TARGET
    (cd "$ROOT" && cargo build --release -q -p berth-shim)
    BERTH_SHIM=${CARGO_TARGET_DIR:-$ROOT/target}/$CARGO_BUILD_TARGET/release/berth-shim
fi

PODMAN="podman --root $T/storage --runroot $T/runroot --tmpdir $T/podman-tmp --storage-driver vfs"
export CONTAINERS_CONF="$T/containers.conf"
cat >"$CONTAINERS_CONF" <<EOF
[containers]
# No CAP_SYS_RESOURCE here: podman's default 1048576 would be refused.
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "$RUNTIME"
EOF

cleanup() {
    set +e
    for d in "$T"/shim/*/; do
        [ -d "$d" ] && "$RUNTIME" --root "$T/rt-root" delete --force "$(basename "$d")" >/dev/null 2>&1
    done
    $PODMAN rm -af -t 0 >/dev/null 2>&1
    $PODMAN rmi -af >/dev/null 2>&1
    sleep 0.5
    [ "${KEEP:-}" = 1 ] || rm -rf "$T"
}
trap cleanup EXIT INT TERM

if [ "$RUNTIME" = crun ] && ! grep -q ' /sys/fs/cgroup/hugetlb ' /proc/self/mountinfo; then
    # crun refuses hybrid hosts with hugetlb on cgroup2 (see HOST.md).
    mkdir -p /sys/fs/cgroup/hugetlb
    mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
fi

# A busybox rootfs, used as a bundle by berth-shim and imported for podman.
R=$T/bundle/rootfs
mkdir -p "$R/bin" "$R/proc" "$R/sys" "$R/dev" "$R/tmp" "$R/etc"
cp /bin/busybox "$R/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$R/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$R/etc/passwd"
echo 'root:x:0:' >"$R/etc/group"
(cd "$T/bundle" && "$RUNTIME" spec >/dev/null 2>&1 || true)
[ -f "$T/bundle/config.json" ] || (cd "$T/bundle" && runc spec)
sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"sleep", "3600"/' "$T/bundle/config.json"
grep -q '"3600"' "$T/bundle/config.json" || { echo "cannot patch config.json" >&2; exit 1; }

tar -C "$R" -cf "$T/rootfs.tar" .
$PODMAN import -q "$T/rootfs.tar" berth-bench-busybox >/dev/null

# Columns: kB of VmRSS, Pss, USS for one pid.
mem() {
    rss=$(awk '/^VmRSS:/{print $2}' "/proc/$1/status")
    awk -v rss="$rss" '/^Pss:/{p=$2} /^Private_(Clean|Dirty):/{u+=$2} END{print rss, p, u}' "/proc/$1/smaps_rollup"
}

mkdir -p "$T/shim"
shim_pids=""
i=0
while [ $i -lt "$N" ]; do
    id=bench-$$-$i
    mkdir -p "$T/shim/$id"
    out=$("$BERTH_SHIM" create --start --id "$id" --runtime "$RUNTIME" --runtime-root "$T/rt-root" \
        --bundle "$T/bundle" --dir "$T/shim/$id")
    shim_pids="$shim_pids $(echo "$out" | sed 's/.*"shim_pid":\([0-9]*\).*/\1/')"
    i=$((i + 1))
done

conmon_pids=""
i=0
while [ $i -lt "$N" ]; do
    cid=$($PODMAN run -d --network none berth-bench-busybox sleep 3600)
    conmon_pids="$conmon_pids $($PODMAN inspect --format '{{.State.ConmonPid}}' "$cid")"
    i=$((i + 1))
done

sleep 2 # idle
report() {
    name=$1
    shift
    for p in "$@"; do mem "$p"; done | awk -v name="$name" -v n="$#" '
        {r+=$1; p+=$2; u+=$3}
        END {printf "%-12s %4d  %10.0f  %10.0f  %10.0f\n", name, n, r/n, p/n, u/n}'
}
echo "runtime: $RUNTIME ($("$RUNTIME" --version | head -1)), $(conmon --version | head -1)"
printf "%-12s %4s  %10s  %10s  %10s\n" shim count "RSS kB" "PSS kB" "USS kB"
# shellcheck disable=SC2086
report berth-shim $shim_pids
# shellcheck disable=SC2086
report conmon $conmon_pids
