# Sourced by hack/cri-test.sh and hack/bench-cri.sh: a private containerd
# with its CRI plugin, a CNI bridge of its own, and a local registry serving a
# pause and a busybox image made here. Nothing is the host's: everything lives
# under one temp dir, and the EXIT trap that cri_init sets takes it all back
# (on failure and on INT/TERM too).
#
# The caller sets BIN (absolute), RT (berth-runtime) and CLIENT
# (berth-cri-test), then:
#
#   cri_init NAME        checks tools, makes W=/tmp/NAME.XXXXXX, picks a free
#                        10.x.y.0/24 (SUBNET, GW), sets TAG, SOCK, BR, CGP and
#                        the traps; passed/failed/skipped start at 0
#   check NAME CMD...    one ok/not ok line, the output on failure
#   run_client SECS ARGS...  berth-cri-test ARGS, stopped with the script
#   make_images          pause + busybox pushed to 127.0.0.1:$REGISTRY_PORT
#   start_containerd     containerd on $SOCK with handlers runc, berth-runc and,
#                        when BIN holds containerd-shim-berth-v2, berth
#                        (io.containerd.berth.v2; BIN first in containerd's
#                        PATH, where it finds the shim)
#   have_berth_shim      whether that third handler exists
#   configured_handlers  the handlers' names
#   free_port            a free TCP port
#
# Handlers' runtime roots are $W/root-<handler> (runc's shim adds the
# namespace; berth's is given $W/root-berth/k8s.io to match).

. "$(dirname "${BASH_SOURCE[0]}")/docker.sh"

have_berth_shim() { [ -x "$BIN/containerd-shim-berth-v2" ]; }

# The handlers start_containerd configures.
configured_handlers() {
    echo "runc berth-runc$(have_berth_shim && echo ' berth')"
}

cri_init() {
    local tool
    for tool in containerd ctr runc skopeo docker-registry catatonit /bin/busybox iptables curl python3 sha256sum /usr/lib/cni/bridge /usr/lib/cni/host-local /usr/lib/cni/portmap /usr/lib/cni/loopback; do
        command -v "$tool" >/dev/null || { echo "missing $tool: run hack/setup" >&2; exit 2; }
    done
    [ "$(id -u)" = 0 ] || { echo "must run as root" >&2; exit 2; }

    TAG=cri$$
    BR=bcri$$
    CGP=berth-cri-$$
    CTRD_PID=
    passed=0 failed=0 skipped=0

    # What CNI's portmap makes on the host and leaves there (its top chains)
    # and what the bridge plugin may turn on: kept as they were.
    nat_chains_before=$(iptables -t nat -S 2>/dev/null | awk '$1 == "-N" { print $2 }')
    FWD_BEFORE=$(cat /proc/sys/net/ipv4/ip_forward)

    # A /24 of 10.0.0.0/8 that no route or address of this host overlaps.
    SUBNET=$(ip -4 -o route show table all | awk '{ print $1 == "local" || $1 == "broadcast" ? $2 : $1 }' | python3 -c '
import ipaddress, random, sys
taken = [ipaddress.ip_network(l.strip() if "/" in l or l.strip() == "default" else l.strip() + "/32", strict=False)
         for l in sys.stdin if l.strip() and l.strip() != "default"]
for _ in range(200):
    n = ipaddress.ip_network("10.%d.%d.0/24" % (random.randint(50, 249), random.randint(1, 250)))
    if not any(n.overlaps(t) for t in taken):
        print(str(n.network_address).rsplit(".", 1)[0]); break
')
    [ -n "$SUBNET" ] || { echo "no free 10.x.y.0/24 here" >&2; exit 2; }
    GW=$SUBNET.1

    W=$(mktemp -d "/tmp/$1.XXXXXX")
    SOCK=$W/ctrd/c.sock
    CLIENT_PID=
    trap cleanup EXIT
    # bash runs a trap only once its foreground command ends: the client
    # runs in the background (run_client) so that INT/TERM stop it at once.
    trap '[ -z "$CLIENT_PID" ] || kill "$CLIENT_PID" 2>/dev/null; exit 130' INT TERM
}

# run_client SECONDS ARGS...: berth-cri-test ARGS under a timeout, its exit
# code returned; an INT/TERM of the script stops it.
run_client() {
    local limit=$1 rc
    shift
    timeout -k 10 "$limit" "$CLIENT" "$@" &
    CLIENT_PID=$!
    wait "$CLIENT_PID"
    rc=$?
    CLIENT_PID=
    return $rc
}

c() { ctr --address "$SOCK" --namespace k8s.io "$@"; }

cleanup() {
    set +e
    if [ -n "$CTRD_PID" ] && kill -0 "$CTRD_PID" 2>/dev/null; then
        timeout 120 "$CLIENT" --endpoint "$SOCK" --cleanup
        kill "$CTRD_PID" 2>/dev/null
        wait "$CTRD_PID" 2>/dev/null
    fi
    registry_stop
    # Shims (they name our socket) and whatever else of ours survived.
    local p
    for p in /proc/[0-9]*; do
        [ "${p#/proc/}" != "$BASHPID" ] || continue
        tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF -- "$W/" && kill -9 "${p#/proc/}" 2>/dev/null
    done
    # Containers whose shim died with a failed RemovePodSandbox (the pause
    # is just `/pause -P`): every process in a cgroup under our parent.
    local f
    for f in $(find /sys/fs/cgroup/"$CGP" /sys/fs/cgroup/*/"$CGP" -name cgroup.procs 2>/dev/null); do
        for p in $(cat "$f" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    done
    awk -v w="$W" 'index($5, w "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null; done
    ip link show "$BR" >/dev/null 2>&1 && ip link del "$BR"
    # Cgroups under our parent, deepest first, on every hierarchy.
    local cg
    for cg in /sys/fs/cgroup/"$CGP" /sys/fs/cgroup/*/"$CGP"; do
        [ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    # portmap's per-pod chains (their rules name our network) if a pod's
    # teardown never ran, then its top chains if they were not there before.
    local ch rule
    iptables -t nat -S CNI-HOSTPORT-DNAT 2>/dev/null | grep -F "berth-cri-$TAG" | while read -r rule; do
        ch=${rule##* -j }
        eval "iptables -t nat ${rule/#-A/-D}"
        iptables -t nat -F "$ch" && iptables -t nat -X "$ch"
    done
    for ch in CNI-HOSTPORT-DNAT CNI-HOSTPORT-SETMARK CNI-HOSTPORT-MASQ; do
        grep -qx -- "$ch" <<<"$nat_chains_before" && continue
        iptables -t nat -S 2>/dev/null | grep -q -- "-N $ch\$" || continue
        iptables -t nat -S | grep -- "-j $ch\$" | grep '^-A' | sed 's/^-A/-D/' |
            while read -r rule; do eval "iptables -t nat $rule"; done
        iptables -t nat -F "$ch" && iptables -t nat -X "$ch"
    done
    [ "$(cat /proc/sys/net/ipv4/ip_forward)" = "$FWD_BEFORE" ] || echo "$FWD_BEFORE" >/proc/sys/net/ipv4/ip_forward
    rm -rf "$W"
}
# check NAME CMD...: one line per check, the output on failure.
check() {
    local name=$1
    shift
    if "$@" >"$W/out" 2>&1; then
        passed=$((passed + 1))
        echo "ok - $name"
    else
        failed=$((failed + 1))
        echo "not ok - $name"
        sed 's/^/  # /' "$W/out" | tail -25
    fi
}

# oci_image DIR ROOTFS CONFIG_JSON: an OCI image layout of one layer.
oci_image() {
    local dir=$1 rootfs=$2 config=$3 layer diff lsize csha csize msha msize
    mkdir -p "$dir/blobs/sha256"
    tar -C "$rootfs" --numeric-owner --owner=0 --group=0 -cf "$dir/layer.tar" . || return 1
    diff=$(sha256sum "$dir/layer.tar" | cut -d' ' -f1)
    gzip -n "$dir/layer.tar"
    layer=$(sha256sum "$dir/layer.tar.gz" | cut -d' ' -f1)
    lsize=$(stat -c %s "$dir/layer.tar.gz")
    mv "$dir/layer.tar.gz" "$dir/blobs/sha256/$layer"
    printf '%s' "$config" | sed "s/@DIFF@/sha256:$diff/" >"$dir/config.json"
    csha=$(sha256sum "$dir/config.json" | cut -d' ' -f1)
    csize=$(stat -c %s "$dir/config.json")
    mv "$dir/config.json" "$dir/blobs/sha256/$csha"
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
        "$csha" "$csize" "$layer" "$lsize" >"$dir/manifest.json"
    msha=$(sha256sum "$dir/manifest.json" | cut -d' ' -f1)
    msize=$(stat -c %s "$dir/manifest.json")
    mv "$dir/manifest.json" "$dir/blobs/sha256/$msha"
    printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
    printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"1"}}]}' \
        "$msha" "$msize" >"$dir/index.json"
}

image_config() { # ENTRYPOINT_JSON CMD_JSON
    printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],"Entrypoint":%s,"Cmd":%s,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["@DIFF@"]},"history":[{"created_by":"hack/cri-test.sh"}]}' "$1" "$2"
}

push() { # LAYOUT NAME
    skopeo --insecure-policy --registries-conf "$W/registries.conf" copy -q --dest-tls-verify=false \
        "oci:$1:1" "docker://127.0.0.1:$REGISTRY_PORT/berth-cri/$2:1"
}

make_images() {
    : >"$W/registries.conf"
    registry_start "$W/registry" || return 1
    # pause: catatonit in its pause mode, as podman's infra containers.
    local p=$W/img/pause-root b=$W/img/busybox-root a
    mkdir -p "$p" "$b"/{bin,etc,tmp,www,root,proc,sys,dev}
    cp /usr/bin/catatonit "$p/pause"
    oci_image "$W/img/pause" "$p" "$(image_config '["/pause","-P"]' null)" || return 1
    cp /bin/busybox "$b/bin/busybox"
    for a in $(/bin/busybox --list); do
        [ "$a" = busybox ] || ln -s busybox "$b/bin/$a"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/tmp:/bin/sh\n' >"$b/etc/passwd"
    printf 'root:x:0:\nuser:x:1000:\nextra:x:2000:\n' >"$b/etc/group"
    echo berth-cri-ok >"$b/www/index.html"
    chmod 1777 "$b/tmp"
    oci_image "$W/img/busybox" "$b" "$(image_config null '["sh"]')" || return 1
    push "$W/img/pause" pause && push "$W/img/busybox" busybox
}

start_containerd() {
    local d=$W/ctrd reg=127.0.0.1:$REGISTRY_PORT h
    mkdir -p "$d" "$W/cni/net.d" "$W/cni/ipam"
    cat >"$W/cni/net.d/10-berth-cri.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "berth-cri-$TAG",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BR",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$W/cni/ipam",
        "ranges": [[{ "subnet": "$SUBNET.0/24", "gateway": "$GW" }]]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
    cat >"$d/config.toml" <<EOF
version = 2
root = "$d/root"
state = "$d/state"
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$d/t.sock"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$reg/berth-cri/pause:1"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_apparmor = true
  # This host's bounding set has no CAP_SYS_RESOURCE, so no process may lower
  # its oom_score_adj (the sandbox's -998 fails in runc and berth-runtime
  # alike): containerd clamps it to its own, as on a rootless host.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$W/cni/net.d"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."$reg"]
    endpoint = ["http://$reg"]
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        Root = "$W/root-runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth-runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth-runc.options]
        BinaryName = "$RT"
        Root = "$W/root-berth-runc"
EOF
    if have_berth_shim; then
        # The CRI plugin hands a runtime type it does not know its options
        # as runtimeoptions.v1.Options (a ConfigPath only); the shim reads
        # BinaryName and Root from that file. Root names the namespace
        # itself: runc's shim appends it, berth's takes Root as it is.
        printf 'BinaryName = "%s"\nRoot = "%s"\n' "$RT" "$W/root-berth/k8s.io" >"$W/berth-runtime.toml"
        cat >>"$d/config.toml" <<EOF
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth]
      runtime_type = "io.containerd.berth.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth.options]
        ConfigPath = "$W/berth-runtime.toml"
EOF
    fi
    # containerd looks for containerd-shim-<name>-v2 in its PATH.
    PATH="$BIN:$PATH" containerd --config "$d/config.toml" >"$d/log" 2>&1 &
    CTRD_PID=$!
    local i
    for i in $(seq 1 100); do
        if ctr --address "$SOCK" version >/dev/null 2>&1; then
            # The CRI plugin loads after the socket answers; it must be "ok".
            if ctr --address "$SOCK" plugins ls 2>/dev/null | awk '$1 == "io.containerd.grpc.v1" && $2 == "cri" { print $NF }' | grep -qx ok; then
                return 0
            fi
        fi
        kill -0 "$CTRD_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "containerd's CRI plugin did not come up:"
    ctr --address "$SOCK" plugins ls 2>&1 | grep -i cri
    tail -30 "$d/log"
    return 1
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("0.0.0.0", 0)); print(s.getsockname()[1])'; }
