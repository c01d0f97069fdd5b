#!/usr/bin/env bash
# docker parity (issue 16): runs the same commands on a private dockerd 20.10
# and on berth, with the same busybox image, normalises what is id-, time-,
# size-, address- and port-dependent, and diffs. Differences that are on
# purpose are listed in INTENDED below, each with its reason; any other
# difference fails.
#
#   hack/parity-test.sh [BERTH_BINARY]     (default: the workspace's debug build)
#
# Everything lives under one temp dir: dockerd (its own data-root,
# exec-root, socket; no iptables, no ip_forward) on a bridge of its own
# (--bridge), berth's store with its default network on another bridge of
# the script's own ("bridge" in networks/config.json, docker's -b), and a
# docker-registry on 127.0.0.1. The EXIT trap removes it all, on failure
# too. Prints `N passed, N failed, N skipped` last (an intended difference
# counts as skipped, with its reason); exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
. hack/lib/docker.sh

BERTH=${1:-target/${CARGO_BUILD_TARGET:-$(hack/triple)}/debug/berth}
[ -x "$BERTH" ] || { echo "no berth binary at $BERTH: cargo build --workspace first" >&2; exit 2; }
BERTH=$(readlink -f "$BERTH")
for tool in /usr/sbin/dockerd /usr/bin/docker docker-registry curl ip nft tar python3 /bin/busybox; do
    command -v "$tool" >/dev/null || { echo "missing $tool: run hack/setup" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "must run as root" >&2; exit 2; }

# Intended differences: NAME|REASON. Keep it short and every line true.
INTENDED=(
    "search a plain registry|docker 20.10's daemon only asks /v1/search, which a distribution registry does not have (it fails with 404); berth falls back to the spec's /v2/_catalog filtered by the term (issue 16)"
    "pull output|docker prints one progress line per layer with its own layer ids and 'Pulling from'; berth prints one line per blob; the final lines (Status, Digest, reference) are compared in 'pull: digest and reference'"
)

W=$(mktemp -d /tmp/berth-parity.XXXXXX)
N=$(($$ % 200 + 20))
DBR=pd$$
BBR=pb$$
host_leftovers_note

b() { "$BERTH" --root "$W/berth" "$@"; }

cleanup() {
    set +e
    local ids
    ids=$(b ps -aq 2>/dev/null)
    [ -z "$ids" ] || b rm -f -v $ids >/dev/null 2>&1
    dockerd_stop
    registry_stop
    [ -z "$PROXY_PID" ] || { kill "$PROXY_PID"; wait "$PROXY_PID"; } 2>/dev/null
    # dockerd leaves its --cgroup-parent behind, empty.
    local cg
    for cg in /sys/fs/cgroup/*/"berth-parity-$$" /sys/fs/cgroup/"berth-parity-$$"; do
        [ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    # berth's table on our bridge (the default network is never pruned).
    nft delete table ip "berth_$BBR" 2>/dev/null
    ip link del "$DBR" 2>/dev/null
    ip link del "$BBR" 2>/dev/null
    awk -v w="$W" '$5 == w || index($5, w "/") == 1 { print $5 }' /proc/self/mountinfo \
        | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
    rm -rf "$W"
    host_leftovers_clean
}
trap cleanup EXIT
trap 'exit 130' INT TERM

passed=0 failed=0 skipped=0

intended_reason() {
    local e
    for e in "${INTENDED[@]}"; do
        [ "${e%%|*}" = "$1" ] && { echo "${e#*|}"; return 0; }
    done
    return 1
}

# What differs between runs or engines but not in kind.
normalise() {
    sed -E \
        -e "s/(127\.0\.0\.1|registry\.test):$REGISTRY_PORT/<REGISTRY>/g" \
        -e "s/\b($PORT_docker|$PORT_berth)\b/<PORT>/g" \
        -e 's/-(docker|berth)\b/-<SIDE>/g' \
        -e 's/sha256:[0-9a-f]{64}/sha256:<DIGEST>/g' \
        -e 's/\b[0-9a-f]{64}\b/<ID>/g' \
        -e 's/\b[0-9a-f]{12}\b/<ID>/g' \
        -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9:]+)/<TIME>/g' \
        -e 's/(Less than a second|About a minute|About an hour|[0-9]+ (second|minute|hour)s?) ago/<AGO>/g' \
        -e 's/Up (Less than a second|About a minute|[0-9]+ (second|minute)s?)/Up <T>/g' \
        -e 's/\b10\.23[67]\.[0-9]+\./<NET>./g' \
        -e 's/02:42(:[0-9a-f]{2}){4}/<MAC>/g' \
        -e 's/\b[0-9]+(\.[0-9]+)?(B|kB|MB|GB|KiB|MiB|GiB)\b/<SIZE>/g' \
        -e 's/ {2,}/  /g' -e 's/[ \t]+$//'
}

# same NAME SNIPPET: runs SNIPPET with X as docker and then as berth (SIDE
# names the engine, PORT its published port), compares stdout and the exit
# status after normalise.
same() {
    local name=$1 snippet=$2 side
    for side in docker berth; do
        (
            SIDE=$side
            eval "PORT=\$PORT_$side"
            if [ "$side" = docker ]; then X() { dk "$@"; }; else X() { b "$@"; }; fi
            eval "$snippet"
            echo "exit=$?"
        ) 2>"$W/$side.err" | normalise >"$W/$side.out"
    done
    if diff -u "$W/docker.out" "$W/berth.out" >"$W/diff"; then
        passed=$((passed + 1))
        echo "ok - $name"
        return 0
    fi
    local why
    if why=$(intended_reason "$name"); then
        skipped=$((skipped + 1))
        echo "skip - $name: intended difference: $why"
        return 0
    fi
    failed=$((failed + 1))
    echo "not ok - $name"
    sed 's/^/  # /' "$W/diff" | head -40
    echo "  # docker stderr: $(head -3 "$W/docker.err")"
    echo "  # berth stderr: $(head -3 "$W/berth.err")"
}

# setup NAME CMD...: a step both sides need; a failure counts as failed.
setup() {
    local name=$1
    shift
    if "$@" >"$W/setup.out" 2>&1; then
        return 0
    fi
    failed=$((failed + 1))
    echo "not ok - setup: $name"
    sed 's/^/  # /' "$W/setup.out" | tail -20
    return 1
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT_docker=$(free_port)
PORT_berth=$(free_port)

make_bridges() {
    ip link add "$DBR" type bridge && ip addr add "10.236.$N.1/24" dev "$DBR" && ip link set "$DBR" up &&
        ip link add "$BBR" type bridge && ip addr add "10.237.$N.1/24" dev "$BBR" && ip link set "$BBR" up
}

build_image() {
    local r=$W/rootfs a
    mkdir -p "$r"/{bin,etc,tmp,root,proc,sys,dev,www}
    cp /bin/busybox "$r/bin/busybox"
    for a in $(/bin/busybox --list); do
        [ "$a" = busybox ] || ln -s busybox "$r/bin/$a"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$r/etc/passwd"
    printf 'root:x:0:\n' >"$r/etc/group"
    echo parity >"$r/www/index.html"
    chmod 1777 "$r/tmp"
    tar -C "$r" -cf "$W/rootfs.tar" .
    printf 'sub/\n' >/dev/null
    mkdir -p "$W/in/sub" && echo "from a tar" >"$W/in/sub/f" && tar -C "$W/in" -cf "$W/in.tar" sub
}

setup "bridges of our own" make_bridges || exit 1
setup "busybox rootfs" build_image || exit 1
# A forward proxy on 127.0.0.1 (CONNECT and absolute-form) for
# registry.test:PORT only, relayed to 127.0.0.1:PORT; one line in
# proxy.count per connection it relays.
start_proxy() {
    : >"$W/proxy.count"
    PROXY_PORT=$(free_port)
    python3 - "$PROXY_PORT" "$W/proxy.count" <<'PY' >"$W/proxy.log" 2>&1 &
import socket, sys, threading
port, count = int(sys.argv[1]), sys.argv[2]
lock = threading.Lock()
def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    try:
        b.shutdown(socket.SHUT_WR)
    except OSError:
        pass
def serve(c):
    c.settimeout(60)
    head = b""
    while b"\r\n\r\n" not in head:
        d = c.recv(65536)
        if not d:
            return c.close()
        head += d
    first = head.split(b"\r\n", 1)[0].decode().split()
    if first[0] == "CONNECT":
        target = first[1]
    else:
        target = first[1].split("://", 1)[-1].split("/", 1)[0]
    host, _, p = target.rpartition(":")
    if host != "registry.test":
        c.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        return c.close()
    u = socket.create_connection(("127.0.0.1", int(p)), timeout=60)
    with lock:
        open(count, "a").write(target + "\n")
    if first[0] == "CONNECT":
        c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    else:
        u.sendall(head)
    threading.Thread(target=pipe, args=(u, c), daemon=True).start()
    pipe(c, u)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(64)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
    PROXY_PID=$!
    local i
    for i in $(seq 1 50); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1', $PROXY_PORT), timeout=1)" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "the proxy did not come up"; cat "$W/proxy.log"; return 1
}
PROXY_PID=

setup "a local docker-registry" registry_start "$W/registry" || exit 1
setup "a counting http proxy" start_proxy || exit 1
# dockerd reads http_proxy at its start, as it does in production.
start_dockerd() {
    http_proxy="http://127.0.0.1:$PROXY_PORT" dockerd_start "$W/docker" --bridge "$DBR" \
        --cgroup-parent "/berth-parity-$$" --userland-proxy=true \
        --insecure-registry "registry.test:$REGISTRY_PORT"
}
setup "a private dockerd 20.10" start_dockerd || exit 1
mkdir -p "$W/berth/networks"
echo "{\"bridge\": \"$BBR\"}" >"$W/berth/networks/config.json"
echo "# berth: $BERTH"
echo "# dockerd: $(dk version -f '{{.Server.Version}}'), workdir $W"

# ---- images ----
same "import" 'X import -c "CMD [\"/bin/sh\"]" "$W/rootfs.tar" busybox:latest'
same "images" 'X images'
same "images --format" 'X images --format "{{.Repository}}:{{.Tag}} {{.Size}}"'
same "images -q" 'X images -q'
same "inspect --type image" 'X inspect --type image -f "{{.Os}}/{{.Architecture}} {{.Config.Cmd}}" busybox'
same "history" 'X history --format "{{.CreatedBy}} {{.Size}}" busybox'

# ---- run, ps, logs, exec ----
same "run --rm" 'X run --rm --network none busybox echo hello'
same "run: exit code" 'X run --rm --network none busybox sh -c "exit 3"'
same "run: command not found is 127" 'X run --rm --network none busybox nosuchcommand'
same "run: not executable is 126" 'X run --rm --network none busybox /etc/passwd'
same "run -d" 'X run -d --name web -p "127.0.0.1:$PORT:80" busybox httpd -f -p 80 -h /www | wc -c'
same "ps" 'X ps'
same "ps --format" 'X ps --format "{{.Names}} {{.Image}} {{.Command}} {{.Ports}}"'
same "port" 'X port web'
fetch() {
    local i
    for i in $(seq 1 50); do
        curl -fsS --max-time 2 "http://127.0.0.1:$1/index.html" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
same "-p: curl from the host" 'fetch "$PORT"'
same "exec" 'X exec web sh -c "echo \$HOSTNAME | wc -c; id; pwd"'
same "exec -w -e -u" 'X exec -w /tmp -e A=b -u 0 web sh -c "pwd; echo \$A"'
# Each stream on its own: docker's order between the two is not fixed.
same "logs: stdout" 'X run --name lg --network none busybox sh -c "echo one; echo err >&2; echo two; echo three" >/dev/null 2>&1; X logs lg 2>/dev/null'
same "logs: stderr" 'X logs lg 2>&1 >/dev/null'
same "logs --tail" 'X run --name lt --network none busybox sh -c "echo one; echo two; echo three" >/dev/null; X logs --tail 2 lt'
same "logs -t" 'X logs -t lt | sed -E "s/^[^ ]+ //"'
same "inspect fields" 'X inspect -f "{{.Name}} {{.State.Status}} {{.State.Running}} {{.Config.Image}} {{.Path}} {{.Args}} {{.HostConfig.NetworkMode}} {{.RestartCount}}" web'
same "inspect exit code" 'X inspect -f "{{.State.Status}} {{.State.ExitCode}}" lg'
same "inspect network settings" 'X inspect -f "{{.NetworkSettings.IPAddress}} {{.NetworkSettings.Gateway}} {{.NetworkSettings.IPPrefixLen}} {{.NetworkSettings.MacAddress}}" web'
same "ps -a -n" 'X ps -a -n 1 --format "{{.Names}} {{.Status}}"'

same "exec: env" 'X exec web env | sort'
same "run: env" 'X run --rm --network none busybox env | sort'
same "inspect config" 'X inspect -f "{{json .Config.Env}} {{.Config.Hostname}}|{{.Config.WorkingDir}}|{{.Config.User}}|{{json .Config.Entrypoint}} {{json .Config.Cmd}} {{.HostConfig.RestartPolicy.Name}}" web'
same "exec: no such command is 126" 'X exec web nosuchcmd >/dev/null 2>&1; echo $?'
same "exec: not executable is 126" 'X exec web /etc >/dev/null 2>&1; echo $?'
same "pause, ps, unpause" 'X pause web && X ps --format "{{.Names}} {{.Status}}" && X unpause web'
same "wait" 'X run -d --name wt --network none busybox sh -c "exit 7" >/dev/null; X wait wt; X rm wt'
same "rename" 'X run -d --name rn --network none busybox sleep 30 >/dev/null; X rename rn rn2; X ps --format "{{.Names}}" --filter name=rn; X rm -f rn2'
same "kill -s" 'X run -d --name ks --network none busybox sleep 30 >/dev/null; X kill -s KILL ks; X wait ks; X rm ks'
same "create, start -a" 'X create --name ca --network none busybox echo started >/dev/null; X start -a ca; X rm ca'
same "restart" 'X restart -t 1 web >/dev/null; X ps --format "{{.Names}} {{.Status}}" --filter name=web'
same "volume create/inspect/rm" 'X volume create "vi-$SIDE" && X volume inspect -f "{{.Driver}} {{.Scope}} {{.Name}}" "vi-$SIDE" && X volume rm "vi-$SIDE"'
same "images --digests" 'X images --digests --format "{{.Repository}} {{.Digest}}" busybox'
same "version" 'X version -f "{{.Client.Os}}/{{.Client.Arch}}"'
same "rm of a running container" 'X rm web 2>/dev/null'
same "logs of nothing" 'X logs nosuchctr 2>/dev/null'
same "inspect of nothing" 'X inspect nosuchthing 2>/dev/null'

# ---- top ----
same "top" 'X top web | sed -E "s/[0-9]+/N/g"'
same "top -o pid,comm" 'X top web -o pid,comm | sed -E "s/[0-9]+/N/g"'
same "top aux" 'X top web aux | sed -E "s/[0-9.]+/N/g"'

# ---- cp ----
same "cp CONTAINER:PATH -" 'X cp web:/etc/passwd - | tar -tvf - | awk "{print \$1, \$2, \$NF}"'
same "cp - CONTAINER:DIR" 'X cp - web:/tmp <"$W/in.tar" && X exec web cat /tmp/sub/f'
same "cp - into a file" 'X cp - web:/etc/passwd <"$W/in.tar" 2>&1 | sed "s/^Error[^:]*: //; s/^berth: //"'
same "cp to the host" 'rm -rf "$W/cp-$SIDE"; mkdir "$W/cp-$SIDE"; X cp web:/www "$W/cp-$SIDE/" && ls -R "$W/cp-$SIDE"'

# ---- diff, commit, export/import, save/load ----
same "diff" 'X run --name chg --network none busybox sh -c "mkdir /tmp/x; touch /tmp/x/y; rm /etc/group" && X diff chg | sort'
same "commit" 'X commit -m "a message" -c "CMD [\"echo\", \"committed\"]" chg committed:1 | wc -c; X run --rm --network none committed:1'
same "commit: comment and cmd" 'X inspect -f "{{.Comment}} {{.Config.Cmd}}" committed:1'
same "export | import" 'X export chg >"$W/exp-$SIDE.tar" && X import "$W/exp-$SIDE.tar" imported:1 | wc -c && X run --rm --network none imported:1 ls /tmp/x'
same "save/load" 'X save -o "$W/save-$SIDE.tar" committed:1 && X rmi committed:1 >/dev/null && X load -i "$W/save-$SIDE.tar"'

# ---- registry: tag, push, pull, search ----
REG=127.0.0.1:$REGISTRY_PORT
same "tag + push" 'X tag busybox "$REG/p-$SIDE/bb:1" && X push "$REG/p-$SIDE/bb:1" | tail -1 | sed -E "s/size: [0-9]+/size: N/"'
same "push --all-tags" 'X tag busybox "$REG/p-$SIDE/bb:2" && X push -a "$REG/p-$SIDE/bb" | grep digest | sed -E "s/size: [0-9]+/size: N/"'
same "rmi" 'X rmi "$REG/p-$SIDE/bb:1"'
same "pull output" 'X pull "$REG/p-$SIDE/bb:1"'
same "pull: digest and reference" 'X rmi "$REG/p-$SIDE/bb:1" >/dev/null; X pull "$REG/p-$SIDE/bb:1" 2>&1 | grep -E "^(Digest|Status|$REG)"'
same "pull: up to date" 'X pull "$REG/p-$SIDE/bb:1" 2>&1 | grep -E "^Status"'
same "search a plain registry" 'X search "$REG/p-$SIDE" 2>/dev/null'

# ---- http_proxy: dockerd was started with it, berth gets it per command ----
# registry.test is a name only the proxy knows (it relays it to the
# registry on 127.0.0.1): a pull that works went through the proxy.
proxy_pull() {
    local before after
    before=$(wc -l <"$W/proxy.count")
    if [ "$SIDE" = docker ]; then
        X pull "registry.test:$REGISTRY_PORT/p-$SIDE/bb:1" >/dev/null
    else
        http_proxy=http://127.0.0.1:$PROXY_PORT X --insecure-registry "registry.test:$REGISTRY_PORT" pull "registry.test:$REGISTRY_PORT/p-$SIDE/bb:1" >/dev/null
    fi || return 1
    after=$(wc -l <"$W/proxy.count")
    [ "$after" -gt "$before" ] && echo "through the proxy"
}
same "pull through http_proxy" 'proxy_pull'

# ---- networks ----
same "network ls" 'X network ls'
same "network inspect bridge" 'X network inspect -f "{{.Name}} {{.Driver}} {{.Scope}} {{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}} {{index .Options \"com.docker.network.bridge.default_bridge\"}}" bridge'
same "network inspect: containers" 'X network inspect -f "{{range .Containers}}{{.Name}} {{.IPv4Address}} {{.MacAddress}}{{end}}" bridge'
same "network inspect host none" 'X network inspect host none | grep -vE "\"(Id|Created)\""'
same "inspect host" 'X inspect -f "{{.Name}} {{.Driver}}" host none'
same "inspect --type network" 'X inspect --type network -f "{{.Name}}" bridge'
same "--net=container: hostname" 'X run -d --name peer --hostname shared --network none busybox sleep 300 >/dev/null && X run --rm --network container:peer busybox sh -c "hostname; cat /etc/hostname"'
same "--net=host hostname" 'X run --rm --network host busybox hostname'

# ---- volumes ----
same "--volumes-from" 'X create --name vsrc -v /anon -v "named-$SIDE:/n" busybox true >/dev/null && X run --rm --volumes-from vsrc busybox sh -c "echo a >/anon/x; echo b >/n/y" && X run --rm --volumes-from vsrc:ro busybox sh -c "cat /anon/x /n/y; touch /anon/z 2>&1 | sed \"s/.*: //\""'
same "volume ls" 'X volume ls --format "{{.Driver}} {{.Name}}" | grep named'

# ---- stats, system df ----
same "stats columns" 'X stats --no-stream web | sed -n 1p'  # sed reads it all: head could SIGPIPE the writer
same "stats --format" 'X stats --no-stream --format "{{.Name}}|{{.NetIO}}|{{.BlockIO}}|{{.PIDs}}" web'
same "system df columns" 'X system df | awk "NR == 1 || /^(Images|Containers|Local|Build)/ {print \$1}"'

# ---- rm ----
same "stop + rm" 'X stop -t 1 web && X rm web'
same "rm -f" 'X rm -f peer lg lt chg vsrc'
same "rmi untag" 'X rmi imported:1 | sed -E "s/^(Deleted: ).*/\1<layer>/" | sort -u'
same "rm of nothing" 'X rm nosuchcontainer 2>/dev/null'

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
