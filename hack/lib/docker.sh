# Sourced by hack scripts that need a private dockerd 20.10 or a local
# docker-registry (hack/engines-test.sh, hack/parity-test.sh). Nothing of
# the host's: each lives under the caller's dir, on its own socket and
# port, and is stopped (with everything it started) by the *_stop function.
#
#   dockerd_start DIR [DOCKERD ARGS...]   data-root, exec-root, socket, pidfile
#                                         and log under DIR; no iptables, no
#                                         ip_forward, no masquerade
#   dockerd_stop                          removes its containers, stops it, and
#                                         kills whatever of its world survived
#   dk ARGS...                            Debian's docker CLI on that socket
#   registry_start DIR                    docker-registry on 127.0.0.1:$REGISTRY_PORT
#   registry_stop
#   host_leftovers_note / host_leftovers_clean
#                                         what dockerd writes outside DIR
#                                         (/etc/docker/key.json...) and did not
#                                         exist before is removed again

DOCKERD_DIR=
DOCKERD_PID=
REGISTRY_PID=
REGISTRY_PORT=
HOST_LEFTOVERS=()

host_leftovers_note() {
    local f
    HOST_LEFTOVERS=()
    for f in /etc/docker/key.json /etc/docker /run/docker/plugins /run/docker /run/containerd/s /run/containerd/fifo /run/containerd; do
        [ -e "$f" ] || HOST_LEFTOVERS+=("$f")
    done
}

host_leftovers_clean() {
    local f
    # Only what did not exist before; dirs only if empty (an engine of
    # someone else's may have made them meanwhile).
    for f in "${HOST_LEFTOVERS[@]}"; do
        if [ -d "$f" ]; then rmdir "$f" 2>/dev/null; else rm -f "$f"; fi
    done
    return 0
}

dk() { DOCKER_CONFIG=$DOCKERD_DIR/cli /usr/bin/docker -H "unix://$DOCKERD_DIR/docker.sock" "$@"; }

# The processes of our dockerd's world (its containerd, shims, proxies):
# each names our dir on its command line.
dockerd_procs() {
    local p
    [ -n "$DOCKERD_DIR" ] || return 0
    for p in /proc/[0-9]*; do
        [ "${p#/proc/}" != "$BASHPID" ] || continue
        tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF -- "$DOCKERD_DIR/" && echo "${p#/proc/}"
    done
    return 0
}

dockerd_start() {
    DOCKERD_DIR=$1
    shift
    mkdir -p "$DOCKERD_DIR/cli"
    echo '{}' >"$DOCKERD_DIR/daemon.json"
    /usr/sbin/dockerd --config-file "$DOCKERD_DIR/daemon.json" \
        --data-root "$DOCKERD_DIR/data" --exec-root "$DOCKERD_DIR/exec" \
        -H "unix://$DOCKERD_DIR/docker.sock" --pidfile "$DOCKERD_DIR/dockerd.pid" \
        --exec-opt native.cgroupdriver=cgroupfs \
        --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
        --storage-driver overlay2 "$@" \
        >"$DOCKERD_DIR/log" 2>&1 &
    DOCKERD_PID=$!
    local i
    for i in $(seq 1 150); do
        dk version >/dev/null 2>&1 && return 0
        kill -0 "$DOCKERD_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "dockerd did not come up:"
    tail -20 "$DOCKERD_DIR/log"
    return 1
}

dockerd_stop() {
    [ -n "$DOCKERD_PID" ] || return 0
    local ids i p
    ids=$(dk ps -aq 2>/dev/null)
    [ -z "$ids" ] || dk rm -f $ids >/dev/null 2>&1
    # dockerd stops the containerd it started on the way out.
    kill "$DOCKERD_PID" 2>/dev/null
    for i in $(seq 1 150); do
        kill -0 "$DOCKERD_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$DOCKERD_PID" 2>/dev/null
    wait "$DOCKERD_PID" 2>/dev/null
    DOCKERD_PID=
    for p in $(dockerd_procs); do kill -9 "$p" 2>/dev/null; done
    return 0
}

registry_start() {
    local dir=$1 i
    mkdir -p "$dir"
    REGISTRY_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    cat >"$dir/registry.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
http:
  addr: 127.0.0.1:$REGISTRY_PORT
YML
    docker-registry serve "$dir/registry.yml" >"$dir/log" 2>&1 &
    REGISTRY_PID=$!
    for i in $(seq 1 100); do
        curl -fs --max-time 2 "http://127.0.0.1:$REGISTRY_PORT/v2/" >/dev/null && return 0
        kill -0 "$REGISTRY_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "docker-registry did not come up:"
    tail -5 "$dir/log"
    return 1
}

registry_stop() {
    [ -n "$REGISTRY_PID" ] || return 0
    kill "$REGISTRY_PID" 2>/dev/null
    wait "$REGISTRY_PID" 2>/dev/null
    REGISTRY_PID=
}
