#!/usr/bin/env bash
# berth build against a private dockerd 20.10's classic builder
# (DOCKER_BUILDKIT=0), side by side in one run, rounds interleaved: the
# issue's 10-step Dockerfile (COPY of a 1,000-file context, five RUNs,
# config steps) from scratch (--no-cache), then rebuilt with every step
# cached, then after a one-line change to a copied file (the steps from the
# COPY on are made again, none before). Prints one line per build:
#   berth|docker scratch|cached|changed run N: SECONDS
# and the medians with berth / docker last.
#
#   hack/bench-build.sh [rounds]     (default 5; release binaries, or $BERTH)
#
# Needs: dockerd + docker (docker.io), busybox-static, python3; root.
set -euo pipefail

ROUNDS=${1:-5}
REPO_ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
export CARGO_BUILD_TARGET=${CARGO_BUILD_TARGET:-$("$REPO_ROOT/hack/triple")}
# BERTH=PATH times that binary instead (its shim and runtime beside it).
if [ -z "${BERTH:-}" ]; then
    cargo build --release -q -p berth -p berth-shim -p berth-runtime --manifest-path "$REPO_ROOT/Cargo.toml"
    BERTH=$CARGO_TARGET_DIR/$CARGO_BUILD_TARGET/release/berth
fi

W=$(mktemp -d /var/tmp/berth-bench-build.XXXXXX)
DCG=berth-bench-build-$$
# shellcheck source=hack/lib/docker.sh
. "$REPO_ROOT/hack/lib/docker.sh"
host_leftovers_note
d() { DOCKER_BUILDKIT=0 dk "$@"; }
b() { "$BERTH" --root "$W/berth" "$@"; }
cleanup() {
    set +e
    dockerd_stop
    for cg in /sys/fs/cgroup/*/"$DCG" /sys/fs/cgroup/"$DCG"; do [ -d "$cg" ] && rmdir "$cg" 2>/dev/null; done
    awk -v w="$W" '$5 == w || index($5, w "/") == 1 { print $5 }' /proc/self/mountinfo \
        | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
    rm -rf "$W"
    host_leftovers_clean
}
trap cleanup EXIT

R=$W/rootfs
mkdir -p "$R/bin" "$R/etc" "$R/tmp"
cp /bin/busybox "$R/bin/busybox"
for a in $(/bin/busybox --list); do [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$R/etc/passwd"
chmod 1777 "$R/tmp"
tar -C "$R" --numeric-owner -cf "$W/rootfs.tar" .

dockerd_start "$W/docker" --cgroup-parent "/$DCG" --bridge none
d import -c 'CMD ["/bin/sh"]' "$W/rootfs.tar" bbase:1 >/dev/null
b import -c 'CMD ["/bin/sh"]' "$W/rootfs.tar" bbase:1 >/dev/null

# The context: 1,000 small files in 10 directories, and the Dockerfile.
C=$W/ctx
for i in $(seq 0 999); do
    mkdir -p "$C/src/d$((i % 10))"
    echo "file $i" >"$C/src/d$((i % 10))/f$i.txt"
done
cat >"$C/Dockerfile" <<'EOF'
FROM bbase:1
ENV APP=/app
WORKDIR /app
COPY src /app/src
RUN find /app/src -type f | wc -l > /app/count
RUN cat /app/src/d1/f1.txt > /app/first
RUN mkdir -p /app/out && echo built > /app/out/flag
RUN ls /app/src > /app/list
RUN rm -rf /app/src/d9
CMD ["cat", "/app/count"]
EOF

now() { date +%s.%N; }
timed() { # LABEL CMD...
    local t0 t1
    t0=$(now)
    "${@:2}" >/dev/null
    t1=$(now)
    echo "$1: $(python3 -c "print(f'{$t1 - $t0:.3f}')")s"
}
# Warm-up: both have the base's layers read once.
d build --network none -q "$C" >/dev/null
b build --network none -q "$C" >/dev/null
for r in $(seq 1 "$ROUNDS"); do
    timed "docker scratch run $r" d build --network none --no-cache -q "$C"
    timed "berth scratch run $r" b build --network none --no-cache -q "$C"
    timed "docker cached run $r" d build --network none -q "$C"
    timed "berth cached run $r" b build --network none -q "$C"
    echo "file 1 changed in round $r" >"$C/src/d1/f1.txt"
    timed "docker changed run $r" d build --network none -q "$C"
    # berth sees the same change (the cache key holds the content hash).
    echo "file 1 changed in round $r!" >"$C/src/d1/f1.txt"
    timed "berth changed run $r" b build --network none -q "$C"
done | tee "$W/times"
python3 - "$W/times" <<'EOF'
import re, statistics, sys
t = {}
for l in open(sys.argv[1]):
    m = re.match(r"(berth|docker) (\w+) run \d+: ([\d.]+)s", l)
    if m:
        t.setdefault((m.group(1), m.group(2)), []).append(float(m.group(3)))
for k in ["scratch", "cached", "changed"]:
    b, d = statistics.median(t[("berth", k)]), statistics.median(t[("docker", k)])
    print(f"{k:8} berth {b:.3f}s  docker {d:.3f}s  berth/docker x{b / d:.2f}")
EOF
