#!/usr/bin/env bash
# Pull + unpack the same multi-layer image (tens of MB, built here) from a
# local docker-registry with berth and with podman, in one run, and print
# the ratios of wall time and peak RSS (berth / podman; < 1 means berth wins).
#
#   hack/bench-pull.sh [runs]        (default 3 runs each, after one warm-up)
#
# Needs: docker-registry, podman, curl, jq, gzip, /usr/bin/time; root.
set -euo pipefail

RUNS=${1:-3}
REPO_ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
export CARGO_BUILD_TARGET=${CARGO_BUILD_TARGET:-$("$REPO_ROOT/hack/triple")}
# BERTH=PATH times that binary instead (hack/bench --no-build passes its own).
if [ -z "${BERTH:-}" ]; then
    cargo build --release -q -p berth --manifest-path "$REPO_ROOT/Cargo.toml"
    BERTH=$CARGO_TARGET_DIR/$CARGO_BUILD_TARGET/release/berth
fi

W=$(mktemp -d /var/tmp/berth-bench.XXXXXX)
REG_PID=
unmount_under() { # podman's overlay driver leaves <root>/overlay mounted on itself
    { grep -F " $1" /proc/mounts || true; } | awk '{print $2}' | sort -r | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" || true; done
}
cleanup() {
    [ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null && wait "$REG_PID" 2>/dev/null || true
    unmount_under "$W"
    rm -rf "$W" 2>/dev/null || { sleep 1; rm -rf "$W"; } || true
}
trap cleanup EXIT

# --- a registry on a free loopback port ---
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$W/registry.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $W/registry
http:
  addr: 127.0.0.1:$PORT
YML
docker-registry serve "$W/registry.yml" >"$W/registry.log" 2>&1 &
REG_PID=$!
REG=127.0.0.1:$PORT
for _ in $(seq 100); do curl -fs "http://$REG/v2/" >/dev/null && break; sleep 0.1; done

# --- the image: 5 gzip layers, ~70 MB unpacked ---
mkdir -p "$W/layers"
mk_layer() { # dir -> appends "diff_id blob_digest size" to $W/layers.txt, uploads the blob
    local dir=$1 name=$2
    tar --numeric-owner -C "$dir" -cf "$W/layers/$name.tar" .
    local diff; diff=$(sha256sum "$W/layers/$name.tar" | cut -d' ' -f1)
    gzip -6 -n "$W/layers/$name.tar"
    local blob="$W/layers/$name.tar.gz"
    local digest; digest=$(sha256sum "$blob" | cut -d' ' -f1)
    upload "$blob" "$digest"
    echo "$diff $digest $(stat -c %s "$blob")" >> "$W/layers.txt"
}
upload() { # file digest
    local loc
    loc=$(curl -fsS -X POST -D - -o /dev/null "http://$REG/v2/bench/img/blobs/uploads/" | tr -d '\r' | awk 'tolower($1)=="location:"{print $2}')
    case $loc in http*) ;; *) loc="http://$REG$loc" ;; esac
    case $loc in *\?*) sep='&' ;; *) sep='?' ;; esac
    curl -fsS -X PUT -H 'Content-Type: application/octet-stream' --data-binary @"$1" "$loc${sep}digest=sha256:$2" >/dev/null
}
L=$W/src
mkdir -p "$L/1/bin" "$L/1/etc" && cp /bin/busybox "$L/1/bin/" && for a in $(/bin/busybox --list); do ln -sf busybox "$L/1/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$L/1/etc/passwd"
mk_layer "$L/1" l1
mkdir -p "$L/2/data" && head -c 15000000 /dev/urandom | base64 > "$L/2/data/text.b64"          # compressible
mk_layer "$L/2" l2
mkdir -p "$L/3/many" && for i in $(seq 3000); do echo "small file $i" > "$L/3/many/f$i.txt"; done
mk_layer "$L/3" l3
mkdir -p "$L/4/blob" && head -c 12000000 /dev/urandom > "$L/4/blob/random.bin"                 # incompressible
mk_layer "$L/4" l4
mkdir -p "$L/5/usr/lib"                                                                       # real binaries, ~20 MB
total=0
for f in /usr/bin/*; do
    [ -f "$f" ] && [ ! -L "$f" ] || continue
    sz=$(stat -c %s "$f"); [ $((total + sz)) -gt 20000000 ] && continue
    cp -p "$f" "$L/5/usr/lib/"; total=$((total + sz))
done
mk_layer "$L/5" l5
config=$(jq -n --argjson diffs "$(awk '{print "sha256:"$1}' "$W/layers.txt" | jq -R . | jq -s .)" \
    '{architecture:"amd64",os:"linux",config:{Cmd:["/bin/sh"]},rootfs:{type:"layers",diff_ids:$diffs}}')
printf '%s' "$config" > "$W/config.json"
cdig=$(sha256sum "$W/config.json" | cut -d' ' -f1)
upload "$W/config.json" "$cdig"
manifest=$(jq -n --arg cd "sha256:$cdig" --argjson cs "$(stat -c %s "$W/config.json")" \
    --argjson layers "$(awk '{print "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:"$2"\",\"size\":"$3"}"}' "$W/layers.txt" | jq -s .)" \
    '{schemaVersion:2,mediaType:"application/vnd.oci.image.manifest.v1+json",config:{mediaType:"application/vnd.oci.image.config.v1+json",digest:$cd,size:$cs},layers:$layers}')
curl -fsS -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "$manifest" "http://$REG/v2/bench/img/manifests/1" >/dev/null
UNPACKED=$(du -sb "$L" | cut -f1); COMPRESSED=$(du -cb "$W"/layers/*.gz | tail -1 | cut -f1)
rm -rf "$L"
echo "image: $(wc -l < "$W/layers.txt") layers, $((UNPACKED / 1000000)) MB unpacked, $((COMPRESSED / 1000000)) MB compressed"

# --- podman with a config of its own ---
mkdir -p "$W/podman-tmp"
cat > "$W/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$W/events.log"
image_copy_tmp_dir = "$W/podman-tmp"
CONF
: > "$W/registries.conf"
export CONTAINERS_CONF=$W/containers.conf CONTAINERS_REGISTRIES_CONF=$W/registries.conf

# measure NAME CMD... -> "seconds maxrss_kb" on stdout
measure() {
    /usr/bin/time -f '%e %M' -o "$W/time.out" "$@" >/dev/null 2>"$W/cmd.err" || { cat "$W/cmd.err" >&2; exit 1; }
    cat "$W/time.out"
}
run_berth() { measure "$BERTH" --root "$W/b$1" pull -q "$REG/bench/img:1"; rm -rf "$W/b$1"; }
run_podman() {
    measure podman --root "$W/p$1" --runroot "$W/pr$1" --storage-driver overlay pull -q --tls-verify=false "$REG/bench/img:1"
    podman --root "$W/p$1" --runroot "$W/pr$1" --storage-driver overlay rmi -a -f >/dev/null 2>&1 || true
    unmount_under "$W/p$1"
    rm -rf "$W/p$1" "$W/pr$1" 2>/dev/null || { sleep 1; rm -rf "$W/p$1" "$W/pr$1"; }
}

run_berth warm >/dev/null; run_podman warm >/dev/null
bt=0; bm=0; pt=0; pm=0
for i in $(seq "$RUNS"); do
    read -r t m < <(run_berth "$i");  echo "berth  run $i: ${t}s  ${m} kB"; bt=$(echo "$bt + $t" | bc -l); [ "$m" -gt "$bm" ] && bm=$m
    read -r t m < <(run_podman "$i"); echo "podman run $i: ${t}s  ${m} kB"; pt=$(echo "$pt + $t" | bc -l); [ "$m" -gt "$pm" ] && pm=$m
done
printf 'mean wall time: berth %.2fs, podman %.2fs -> ratio %.2f\n' "$(echo "$bt / $RUNS" | bc -l)" "$(echo "$pt / $RUNS" | bc -l)" "$(echo "$bt / $pt" | bc -l)"
printf 'peak RSS:       berth %d kB, podman %d kB -> ratio %.2f\n' "$bm" "$pm" "$(echo "$bm / $pm" | bc -l)"
