#!/usr/bin/env bash
# Runs real engines on top of an OCI runtime: podman (--runtime),
# containerd (ctr run --runc-binary, i.e. the io.containerd.runc.v2 shim
# calling our binary) and docker (dockerd 20.10 with the runtime as its
# default, through the same shim). Installs nothing: podman, conmon,
# netavark, containerd, docker.io, curl and busybox-static must already be
# there.
#
#   hack/engines-test.sh RUNTIME_PATH
#
# Everything lives under one temp dir with its own podman --root/--runroot,
# its own network, its own containerd (--address/--root/--state) and its own
# dockerd (--data-root/--exec-root/-H, its own containerd, cgroup parent and
# bridge), and is torn down by the EXIT trap, on failure too. Prints
# `N passed, N failed` last (`, N skipped` when a check could not run here);
# exits non-zero if anything failed.
set -uo pipefail

if [ $# -ne 1 ] || [ ! -x "$1" ]; then
    echo "usage: $0 RUNTIME_PATH (an executable OCI runtime)" >&2
    exit 2
fi
RT=$(readlink -f "$1")
. "$(dirname "$0")/lib/docker.sh"
for tool in podman conmon containerd ctr /usr/sbin/dockerd /usr/bin/docker curl script /bin/busybox; do
    command -v "$tool" >/dev/null || { echo "missing $tool: run the setup script (apt)" >&2; exit 2; }
done
if [ "$(id -u)" != 0 ]; then
    echo "must run as root" >&2
    exit 2
fi

W=$(mktemp -d /tmp/berth-eng.XXXXXX)
TAG=e2e$$
IMG=localhost/berth-busybox:$TAG
NET=berth-$TAG
NS=berth-$TAG
DCG=berth-docker-$TAG
DOCKER_SOCK=$W/docker/docker.sock
DIMG=berth-busybox:$TAG
# A bridge of our own for -p (docker's default one, docker0, is off).
DBR=bbr$$
CTRD_PID=
DOCKERD_PID=
# What the engines would leave on the host if we did not take it back:
# dockerd writes /etc/docker/key.json whatever its data-root (HOST.md); it,
# the shims and ctr make these dirs (hack/lib/docker.sh).
host_leftovers_note
DOCKER0_BEFORE=$(ip link show docker0 >/dev/null 2>&1 && echo yes)

# crun 1.8 refuses hybrid hosts while hugetlb is still on cgroup2 (HOST.md).
if mountpoint -q /sys/fs/cgroup/unified && mountpoint -q /sys/fs/cgroup/memory \
    && ! mountpoint -q /sys/fs/cgroup/hugetlb && grep -q '^hugetlb' /proc/cgroups; then
    mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
fi

cat >"$W/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
export CONTAINERS_CONF=$W/containers.conf
# Keep podman away from the host's registries.conf/policy lookups.
export REGISTRIES_CONFIG_PATH=$W/registries.conf
: >"$REGISTRIES_CONFIG_PATH"

pm() {
    podman --root "$W/storage" --runroot "$W/run" --tmpdir "$W/tmp" \
        --network-config-dir "$W/net" --storage-driver overlay \
        --cgroup-manager cgroupfs --events-backend file --runtime "$RT" "$@"
}

CTRD_SOCK=$W/ctrd/c.sock
c() { ctr --address "$CTRD_SOCK" --namespace "$NS" "$@"; }

d() { dk "$@"; }
# run --rm without a network unless the caller names one.
dr() { d run --rm --network none "$@"; }

stop_dockerd() {
    [ -n "$DOCKERD_PID" ] || return 0
    d network rm "$NET" >/dev/null 2>&1
    dockerd_stop
}

cleanup_docker() {
    stop_dockerd
    # Whatever survived a dockerd that died first.
    local p
    for p in $(dockerd_procs); do kill -9 "$p" 2>/dev/null; done
    ip link show "$DBR" >/dev/null 2>&1 && ip link del "$DBR"
    return 0
}

cleanup() {
    set +e
    if [ -S "$CTRD_SOCK" ]; then
        for t in $(c task ls -q 2>/dev/null); do
            c task kill -s SIGKILL "$t" >/dev/null 2>&1
            sleep 0.2
            c task delete -f "$t" >/dev/null 2>&1
        done
        for ct in $(c container ls -q 2>/dev/null); do c container delete "$ct" >/dev/null 2>&1; done
        for i in $(c image ls -q 2>/dev/null); do c image rm "$i" >/dev/null 2>&1; done
    fi
    if [ -n "$CTRD_PID" ]; then
        kill "$CTRD_PID" 2>/dev/null
        wait "$CTRD_PID" 2>/dev/null
    fi
    cleanup_docker
    # containerd parents its containers' cgroups in one per namespace, and
    # dockerd in its --cgroup-parent; both leave it behind, empty.
    local cg
    for cg in /sys/fs/cgroup/*/"$NS" /sys/fs/cgroup/"$NS" /sys/fs/cgroup/*/"$DCG" /sys/fs/cgroup/"$DCG"; do
        [ -d "$cg" ] && rmdir "$cg" 2>/dev/null
    done
    pm rm -af -t 0 >/dev/null 2>&1
    pm network rm -f "$NET" >/dev/null 2>&1
    pm rmi -af >/dev/null 2>&1
    # Whatever is still mounted under our dir (overlay layers, shm, the
    # storage's own private bind), deepest first.
    awk -v w="$W" '$5 == w || index($5, w "/") == 1 { print $5 }' /proc/self/mountinfo \
        | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
    rm -rf "$W"
    host_leftovers_clean
}
trap cleanup EXIT
trap 'exit 130' INT TERM

passed=0
failed=0
skipped=0
# check NAME CMD...: runs CMD, records ok/not ok with its output on failure.
# CMD exits with $SKIP (its last output line the reason) when the check
# cannot run on this host.
SKIP=77
check() {
    local name=$1 rc
    shift
    "$@" >"$W/out" 2>&1
    rc=$?
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
        echo "ok - $name"
    elif [ "$rc" -eq "$SKIP" ]; then
        skipped=$((skipped + 1))
        echo "skip - $name: $(tail -1 "$W/out")"
    else
        failed=$((failed + 1))
        echo "not ok - $name"
        sed 's/^/  # /' "$W/out" | tail -20
    fi
}

# expect OUTPUT_REGEX CMD...: CMD succeeds and prints a line matching.
expect() {
    local re=$1
    shift
    local out
    out=$("$@" 2>&1) || { echo "failed ($?): $*"; echo "$out"; return 1; }
    grep -Eq -- "$re" <<<"$out" || { echo "output of $* does not match /$re/:"; echo "$out"; return 1; }
}

# A busybox image built here: no registry needed.
build_image() {
    local r=$W/rootfs
    mkdir -p "$r"/{bin,etc,tmp,www,root,proc,sys,dev}
    cp /bin/busybox "$r/bin/busybox"
    local a
    for a in $(/bin/busybox --list); do
        [ "$a" = busybox ] || ln -s busybox "$r/bin/$a"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/tmp:/bin/sh\n' >"$r/etc/passwd"
    printf 'root:x:0:\nuser:x:1000:\n' >"$r/etc/group"
    echo "berth-engines-ok" >"$r/www/index.html"
    chmod 1777 "$r/tmp"
    tar -C "$r" -cf "$W/rootfs.tar" . &&
        pm import --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/bin:/usr/bin:/sbin:/usr/sbin' "$W/rootfs.tar" "$IMG"
}

echo "# runtime: $RT"
echo "# workdir: $W"
check "image: build busybox image with podman import" build_image

# ---- podman ----
check "podman: run --rm" expect '^hello$' pm run --rm --network none "$IMG" echo hello
podman_exit() {
    pm run --rm --network none "$IMG" sh -c 'exit 3'
    local rc=$?
    [ "$rc" -eq 3 ] || { echo "exit status $rc, want 3"; return 1; }
}
check "podman: exit code is passed through" podman_exit

podman_detached() {
    pm run -d --network none --name "d-$TAG" "$IMG" sleep 1000 || return 1
    expect 'sleep' pm exec "d-$TAG" cat /proc/1/cmdline || return 1
    expect '^running$' pm inspect -f '{{.State.Status}}' "d-$TAG" || return 1
    pm stop -t 2 "d-$TAG" || return 1
    expect '^exited$' pm inspect -f '{{.State.Status}}' "d-$TAG" || return 1
    pm rm "d-$TAG"
}
check "podman: run -d, exec, stop, rm" podman_detached

podman_tty() {
    # podman -it needs a real terminal: script(1) gives it one. The sleep
    # keeps podman 4.3 from dropping the tail of the output (HOST.md).
    local cmd
    cmd="podman --root $W/storage --runroot $W/run --tmpdir $W/tmp --network-config-dir $W/net"
    cmd+=" --storage-driver overlay --cgroup-manager cgroupfs --events-backend file --runtime $RT"
    cmd+=" run --rm -it --network none $IMG sh -c 'tty; sleep 0.5'"
    # podman/conmon echo a stray NUL into the pty at a random moment (crun
    # too): it shows up as "^@" before or after the output. Not ours to judge.
    expect '(^|\^@)/dev/pts/[0-9]+' script -qec "$cmd" /dev/null
}
check "podman: run -it (tty)" podman_tty

check "podman: --memory" expect '^67108864$' pm run --rm --network none --memory 64m "$IMG" \
    sh -c 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max'
check "podman: --pids-limit" expect '^42$' pm run --rm --network none --pids-limit 42 "$IMG" \
    sh -c 'cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max'
check "podman: --user" expect '^1000 1000$' pm run --rm --network none --user 1000:1000 "$IMG" sh -c 'echo $(id -u) $(id -g)'
check "podman: --read-only" expect 'Read-only file system' pm run --rm --network none --read-only "$IMG" sh -c 'touch /x; echo done'
check "podman: ulimits from containers.conf" expect '^20000$' pm run --rm --network none "$IMG" sh -c 'ulimit -n'

podman_port() {
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    pm network create "$NET" >/dev/null || return 1
    pm run -d --name "w-$TAG" --network "$NET" -p "127.0.0.1:$port:8080" "$IMG" \
        httpd -f -p 8080 -h /www || return 1
    local i
    for i in $(seq 1 50); do
        if curl -fsS --max-time 2 "http://127.0.0.1:$port/index.html" 2>/dev/null | grep -q berth-engines-ok; then
            pm rm -f -t 0 "w-$TAG" >/dev/null
            return 0
        fi
        sleep 0.2
    done
    echo "no answer from the container's httpd on 127.0.0.1:$port"
    pm logs "w-$TAG"
    return 1
}
check "podman: -p on a bridge network, curl from the host" podman_port

# ---- containerd ----
start_containerd() {
    mkdir -p "$W/ctrd"
    cat >"$W/ctrd/config.toml" <<EOF
version = 2
root = "$W/ctrd/root"
state = "$W/ctrd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$CTRD_SOCK"
[ttrpc]
  address = "$W/ctrd/t.sock"
[debug]
  address = ""
[metrics]
  address = ""
EOF
    containerd --config "$W/ctrd/config.toml" >"$W/ctrd/log" 2>&1 &
    CTRD_PID=$!
    local i
    for i in $(seq 1 100); do
        ctr --address "$CTRD_SOCK" version >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    cat "$W/ctrd/log"
    return 1
}
check "containerd: start a private containerd" start_containerd

ctr_import() {
    pm save --format docker-archive -o "$W/busybox-docker.tar" "$IMG" || return 1
    c image import --no-unpack=false "$W/busybox-docker.tar" || return 1
    expect "$IMG" c image ls -q
}
check "containerd: ctr image import" ctr_import

RUNC_ROOT=$W/runc-root
check "containerd: ctr run --rm" expect '^hello$' c run --rm --runc-binary "$RT" --runc-root "$RUNC_ROOT" "$IMG" "r-$TAG" echo hello

ctr_lifecycle() {
    c run -d --runc-binary "$RT" --runc-root "$RUNC_ROOT" "$IMG" "l-$TAG" sleep 1000 || return 1
    expect "l-$TAG.*RUNNING" c task ls || return 1
    expect '^exec-ok$' c task exec --exec-id "e-$TAG" "l-$TAG" echo exec-ok || return 1
    c task kill -s SIGKILL "l-$TAG" || return 1
    local i
    for i in $(seq 1 50); do
        c task ls | grep -q "l-$TAG.*STOPPED" && break
        sleep 0.1
    done
    expect "l-$TAG.*STOPPED" c task ls || return 1
    c task delete "l-$TAG" || return 1
    c container delete "l-$TAG" || return 1
    if c task ls | grep -q "l-$TAG"; then
        echo "task still listed after delete"
        return 1
    fi
}
check "containerd: run -d, exec, kill, delete" ctr_lifecycle

# ---- docker ----
DOCKER_T0=$SECONDS
start_dockerd() {
    # Nothing of the host's (hack/lib/docker.sh): its own config, roots,
    # socket and containerd, no iptables rules, no ip_forward; here also its
    # own cgroup parent and no docker0 (-p goes through docker-proxy).
    dockerd_start "$W/docker" --cgroup-parent "/$DCG" --bridge none --userland-proxy=true \
        --add-runtime "under-test=$RT" --default-runtime under-test || return 1
    expect 'Default Runtime: under-test' d info || { tail -20 "$W/docker/log"; return 1; }
}
check "docker: start a private dockerd with the runtime as default" start_dockerd

check "docker: import the busybox image" expect "^sha256:" d import \
    -c 'CMD ["/bin/sh"]' -c 'ENV PATH=/bin:/usr/bin:/sbin:/usr/sbin' "$W/rootfs.tar" "$DIMG"

check "docker: run --rm" expect '^hello$' dr "$DIMG" echo hello

# docker_exit WANT CMD...: CMD exits with WANT.
docker_exit() {
    local want=$1 rc
    shift
    "$@"
    rc=$?
    [ "$rc" -eq "$want" ] || { echo "exit status $rc, want $want"; return 1; }
}
check "docker: exit code is passed through" docker_exit 3 dr "$DIMG" sh -c 'exit 3'

# docker makes the exit code of a process that cannot start out of the
# runtime's error TEXT, read from its --log file (ENGINES.md): runc's
# "...no such file or directory" is 127, "...permission denied" 126. crun
# 1.8.1 capitalises the errno text, which docker does not recognise: 125.
docker_cannot_start() {
    local want=$1 path=$2 out rc
    [ "$(basename "$RT")" = crun ] && want=125
    out=$(dr "$DIMG" "$path" 2>&1)
    rc=$?
    [ "$rc" -eq "$want" ] || { echo "exit status $rc, want $want"; echo "$out"; return 1; }
    # dockerd reads the runtime's error from its --log file, and says
    # "unable to retrieve OCI runtime error" when it is not there.
    if ! grep -q 'OCI runtime create failed' <<<"$out" || grep -q 'unable to retrieve' <<<"$out"; then
        echo "no error of the runtime's own:"
        echo "$out"
        return 1
    fi
    # runc's text names what could not be run.
    [ "$want" -eq 125 ] || grep -qF -- "$path" <<<"$out" || { echo "the error does not name $path:"; echo "$out"; return 1; }
}
check "docker: a missing binary exits 127 (runc's text)" docker_cannot_start 127 /no/such/binary
check "docker: a command not in PATH exits 127 (runc's text)" docker_cannot_start 127 no-such-command
check "docker: a non-executable file exits 126 (runc's text)" docker_cannot_start 126 /etc/passwd

check "docker: -e" expect '^bar$' dr -e FOO=bar "$DIMG" sh -c 'echo $FOO'
check "docker: -w (made if missing)" expect '^/new/dir$' dr -w /new/dir "$DIMG" pwd
check "docker: --user" expect '^1000 1000$' dr --user 1000:1000 "$DIMG" sh -c 'echo $(id -u) $(id -g)'
# docker sends no HOME: the runtime takes it from the image's passwd.
docker_home() {
    expect '^/root$' dr "$DIMG" sh -c 'echo $HOME' &&
        expect '^/tmp$' dr --user 1000 "$DIMG" sh -c 'echo $HOME'
}
check "docker: HOME of the user" docker_home
check "docker: --hostname" expect '^h-docker$' dr --hostname h-docker "$DIMG" hostname
check "docker: --read-only" expect 'Read-only file system' dr --read-only "$DIMG" sh -c 'touch /x; echo done'
docker_stdin() { echo from-stdin | dr -i "$DIMG" cat; }
check "docker: -i passes stdin" expect '^from-stdin$' docker_stdin

docker_tty() {
    # A real terminal from script(1), as for podman; docker's CLI may echo
    # a stray NUL ("^@") into the pty as podman's does.
    expect '(^|\^@)/dev/pts/[0-9]+' script -qec \
        "DOCKER_CONFIG=$W/docker/cli /usr/bin/docker -H unix://$DOCKER_SOCK run --rm -it --network none $DIMG sh -c 'tty; sleep 0.5'" /dev/null
}
check "docker: run -it (tty)" docker_tty

# The effective capabilities of a container's process, as a number.
cap_eff() { printf '%d' "0x$(dr "$@" "$DIMG" sh -c 'grep ^CapEff /proc/self/status' | awk '{print $2}')"; }
docker_caps() {
    local dflt added dropped
    dflt=$(cap_eff) && added=$(cap_eff --cap-add SYS_ADMIN) &&
        dropped=$(cap_eff --cap-drop ALL --cap-add NET_RAW) || return 1
    # CAP_SYS_ADMIN is 21, CAP_NET_RAW 13, CAP_CHOWN 0.
    [ $((dflt & (1 << 21))) -eq 0 ] || { echo "SYS_ADMIN in the default set: $dflt"; return 1; }
    [ $((dflt & 1)) -ne 0 ] || { echo "CHOWN missing from the default set: $dflt"; return 1; }
    [ "$added" -eq $((dflt | (1 << 21))) ] || { echo "--cap-add SYS_ADMIN: $added, want $((dflt | (1 << 21)))"; return 1; }
    [ "$dropped" -eq $((1 << 13)) ] || { echo "--cap-drop ALL --cap-add NET_RAW: $dropped, want $((1 << 13))"; return 1; }
}
check "docker: --cap-add, --cap-drop (CapEff)" docker_caps

docker_privileged() {
    local out rc host_bnd eff
    out=$(dr --privileged "$DIMG" sh -c 'grep ^CapEff /proc/self/status; ls /dev/kmsg; cat /sys/fs/cgroup/devices/devices.list 2>/dev/null' 2>&1)
    rc=$?
    if [ "$rc" -ne 0 ] && grep -q 'capset' <<<"$out"; then
        echo "$out"
        echo "--privileged asks for capabilities outside this host's bounding set (no CAP_SYS_RESOURCE) and this runtime refuses them at capset, as runc and crun do here (HOST.md)"
        return "$SKIP"
    fi
    [ "$rc" -eq 0 ] || { echo "exit status $rc"; echo "$out"; return 1; }
    host_bnd=$(printf '%d' "0x$(awk '/^CapBnd/ {print $2}' /proc/self/status)")
    eff=$(printf '%d' "0x$(awk '/^CapEff/ {print $2}' <<<"$out")")
    # Everything the host can give and docker knows of; nothing beyond.
    [ $((eff & ~host_bnd)) -eq 0 ] && [ $((eff & (1 << 21))) -ne 0 ] && [ $((eff & (1 << 16))) -ne 0 ] ||
        { echo "CapEff $eff is not the host's set $host_bnd:"; echo "$out"; return 1; }
    grep -q '^/dev/kmsg$' <<<"$out" || { echo "no host devices in /dev:"; echo "$out"; return 1; }
    if grep -q ':' <<<"$out"; then
        grep -q '^a \*:\* rwm$' <<<"$out" || { echo "the device cgroup is not open:"; echo "$out"; return 1; }
    fi
}
check "docker: --privileged" docker_privileged

check "docker: --init" expect '^/sbin/docker-init -- cat' sh -c \
    "DOCKER_CONFIG=$W/docker/cli /usr/bin/docker -H unix://$DOCKER_SOCK run --rm --network none --init $DIMG cat /proc/1/cmdline | tr '\\0' ' '"
check "docker: --memory" expect '^67108864$' dr --memory 64m "$DIMG" \
    sh -c 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max'
check "docker: --pids-limit" expect '^42$' dr --pids-limit 42 "$DIMG" \
    sh -c 'cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max'
check "docker: --network none" expect '^lo$' dr "$DIMG" sh -c "ls /sys/class/net"

# One detached container through its whole life. sh as pid 1 ignores
# SIGTERM (no handler), so stop has to escalate to SIGKILL.
DC=d-$TAG
docker_detached() {
    d run -d --network none --name "$DC" "$DIMG" \
        sh -c 'trap "echo got-usr1" USR1; echo started; while :; do sleep 0.1; done' >/dev/null || return 1
    expect "^$DC Up" d ps --format '{{.Names}} {{.Status}}'
}
check "docker: run -d, ps" docker_detached
check "docker: exec -u -w -e" expect '^1000 /tmp y$' d exec -u 1000 -w /tmp -e X=y "$DC" sh -c 'echo $(id -u) $(pwd) $X'
docker_exec_tty() {
    expect '(^|\^@)/dev/pts/[0-9]+' script -qec \
        "DOCKER_CONFIG=$W/docker/cli /usr/bin/docker -H unix://$DOCKER_SOCK exec -it $DC sh -c 'tty; sleep 0.5'" /dev/null
}
check "docker: exec -it (tty)" docker_exec_tty
check "docker: top (the runtime's ps)" expect 'while :; do sleep' d top "$DC"
docker_pause() {
    d pause "$DC" >/dev/null || return 1
    expect '^paused$' d inspect -f '{{.State.Status}}' "$DC" || return 1
    d unpause "$DC" >/dev/null || return 1
    expect '^running$' d inspect -f '{{.State.Status}}' "$DC" || return 1
    expect '^alive$' d exec "$DC" echo alive
}
check "docker: pause, unpause" docker_pause
docker_update() {
    d update --memory 96m --memory-swap 192m "$DC" >/dev/null || return 1
    expect '^100663296$' d exec "$DC" \
        sh -c 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max'
}
check "docker: update --memory" docker_update
docker_kill_trap() {
    d kill -s USR1 "$DC" >/dev/null || return 1
    local i
    for i in $(seq 1 50); do
        d logs "$DC" 2>&1 | grep -q '^got-usr1$' && return 0
        sleep 0.1
    done
    echo "the trap did not run:"
    d logs "$DC"
    return 1
}
check "docker: kill -s USR1 reaches the container's trap" docker_kill_trap
docker_stop() {
    local t0=$SECONDS
    d stop -t 1 "$DC" >/dev/null || return 1
    expect '^exited 137$' d inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$DC" || return 1
    [ $((SECONDS - t0)) -lt 10 ] || { echo "stop took $((SECONDS - t0)) s"; return 1; }
}
check "docker: stop escalates to SIGKILL" docker_stop
check "docker: logs" expect '^started$' d logs "$DC"
docker_start_again() {
    d start "$DC" >/dev/null || return 1
    expect '^running$' d inspect -f '{{.State.Status}}' "$DC" || return 1
    expect '^again$' d exec "$DC" echo again
}
check "docker: start a stopped container again" docker_start_again
docker_restart() {
    local before after
    before=$(d inspect -f '{{.State.Pid}}' "$DC")
    d restart -t 1 "$DC" >/dev/null || return 1
    after=$(d inspect -f '{{.State.Pid}} {{.State.Status}}' "$DC")
    [ "$after" != "$before running" ] && [ "${after#* }" = running ] ||
        { echo "before: pid $before; after: $after"; return 1; }
    d rm -f "$DC" >/dev/null
}
check "docker: restart" docker_restart

docker_port() {
    local port i
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    d network create --driver bridge -o "com.docker.network.bridge.name=$DBR" "$NET" >/dev/null || return 1
    d run -d --name "w-$TAG" --network "$NET" -p "127.0.0.1:$port:8080" "$DIMG" \
        httpd -f -p 8080 -h /www >/dev/null || return 1
    for i in $(seq 1 50); do
        if curl -fsS --max-time 2 "http://127.0.0.1:$port/index.html" 2>/dev/null | grep -q berth-engines-ok; then
            d rm -f "w-$TAG" >/dev/null
            d network rm "$NET" >/dev/null
            return 0
        fi
        sleep 0.2
    done
    echo "no answer from the container's httpd on 127.0.0.1:$port"
    d logs "w-$TAG"
    return 1
}
check "docker: -p 127.0.0.1 on a bridge of the test's own, curl from the host" docker_port

docker_down() {
    stop_dockerd
    local i left
    for i in $(seq 1 50); do
        left=$(dockerd_procs)
        [ -n "$left" ] || break
        sleep 0.1
    done
    [ -z "$left" ] || { echo "still running after dockerd stopped:"; ps -o pid,args -p "$(tr '\n' ,<<<"$left" | sed 's/,$//')"; return 1; }
    ! ip link show "$DBR" >/dev/null 2>&1 || { echo "bridge $DBR left behind"; return 1; }
    [ -n "$DOCKER0_BEFORE" ] || ! ip link show docker0 >/dev/null 2>&1 || { echo "docker0 made"; return 1; }
}
check "docker: dockerd stops, and its containerd and shims with it" docker_down
echo "# docker part: $((SECONDS - DOCKER_T0)) s"

echo "$passed passed, $failed failed$([ "$skipped" -eq 0 ] || echo ", $skipped skipped")"
[ "$failed" -eq 0 ]
