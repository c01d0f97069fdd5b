# Sourced by hack/shimv2-test.sh and hack/bench-shimv2.sh: a private
# containerd 1.6 (its own root, state, sockets; CRI off) and a busybox OCI
# image archive made from /bin/busybox (no registry, no podman).
#
#   ctrd_start DIR [PATH_PREFIX]   containerd on DIR/c.sock (ttrpc DIR/t.sock),
#                                  PATH_PREFIX first in its PATH (where it
#                                  finds containerd-shim-*-v2); sets CTRD_PID
#   busybox_oci_archive OUT IMG    writes an OCI image layout tar of busybox
#                                  named IMG (io.containerd.image.name)

CTRD_PID=

ctrd_start() {
    local dir=$1 prefix=${2:-}
    mkdir -p "$dir"
    cat >"$dir/config.toml" <<EOC
version = 2
root = "$dir/root"
state = "$dir/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$dir/c.sock"
[ttrpc]
  address = "$dir/t.sock"
[debug]
  address = ""
[metrics]
  address = ""
EOC
    PATH="${prefix:+$prefix:}$PATH" containerd --config "$dir/config.toml" >>"$dir/log" 2>&1 &
    CTRD_PID=$!
    local i
    for i in $(seq 1 100); do
        ctr --address "$dir/c.sock" version >/dev/null 2>&1 && return 0
        kill -0 "$CTRD_PID" 2>/dev/null || break
        sleep 0.1
    done
    tail -20 "$dir/log"
    return 1
}

busybox_oci_archive() {
    local out=$1 img=$2 tmp a
    tmp=$(mktemp -d "$(dirname "$out")/oci.XXXXXX") || return 1
    local r=$tmp/rootfs o=$tmp/oci
    mkdir -p "$r"/{bin,etc,tmp,root,proc,sys,dev} "$o/blobs/sha256"
    cp /bin/busybox "$r/bin/busybox"
    for a in $(/bin/busybox --list); do
        [ "$a" = busybox ] || ln -s busybox "$r/bin/$a"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$r/etc/passwd"
    printf 'root:x:0:\n' >"$r/etc/group"
    chmod 1777 "$r/tmp"
    # blob FILE: moves FILE into the layout, prints "DIGEST SIZE".
    blob() {
        local d s
        d=$(sha256sum "$1" | cut -d' ' -f1)
        s=$(stat -c %s "$1")
        mv "$1" "$o/blobs/sha256/$d"
        echo "$d $s"
    }
    tar -C "$r" -cf "$tmp/layer.tar" . || { rm -rf "$tmp"; return 1; }
    local layer config manifest
    layer=$(blob "$tmp/layer.tar")
    printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin:/usr/bin:/sbin:/usr/sbin"],"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
        "${layer% *}" >"$tmp/config.json"
    config=$(blob "$tmp/config.json")
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
        "${config% *}" "${config#* }" "${layer% *}" "${layer#* }" >"$tmp/manifest.json"
    manifest=$(blob "$tmp/manifest.json")
    printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
        "${manifest% *}" "${manifest#* }" "$img" "${img##*:}" >"$o/index.json"
    echo '{"imageLayoutVersion":"1.0.0"}' >"$o/oci-layout"
    tar -C "$o" -cf "$out" oci-layout index.json blobs
    local rc=$?
    rm -rf "$tmp"
    return $rc
}
