#!/usr/bin/env bash
# docker's own clients against an Engine API: the docker CLI, docker-compose
# (1.29, through docker-py) and docker-py itself run the tutorials' everyday
# workflows against `berth serve`, and the very same checks against a private
# dockerd 20.10, so that what is tested is docker's behaviour, not ours.
#
#   hack/api-test.sh BIN_DIR [berth|dockerd|both]      (default: both)
#
# BIN_DIR holds berth, berth-shim and berth-runtime. Everything lives under
# one temp dir: berth's store and socket, dockerd's data/exec roots, socket
# and containerd, a docker-registry on a free 127.0.0.1 port, and two users
# made for the group check; the EXIT trap takes all of it back. Traffic goes
# only to 127.0.0.1 and to the containers made here. Prints
# `N passed, N failed` last and exits non-zero if anything failed.
set -uo pipefail

BIN=$(readlink -f "${1:?usage: $0 BIN_DIR [berth|dockerd|both]}")
WHICH=${2:-both}
for t in "$BIN/berth" "$BIN/berth-shim" "$BIN/berth-runtime"; do
    [ -x "$t" ] || { echo "missing $t" >&2; exit 2; }
done
for tool in /usr/bin/docker /usr/sbin/dockerd docker-registry docker-compose /usr/bin/python3 curl script /bin/busybox; do
    command -v "$tool" >/dev/null || { echo "missing $tool: run hack/setup" >&2; exit 2; }
done
/usr/bin/python3 -c 'import docker' 2>/dev/null || { echo "missing python3-docker: run hack/setup" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "must run as root" >&2; exit 2; }

# dockerd and docker-registry as hack/engines-test.sh and the parity
# harness start them; what dockerd writes outside its dirs is taken back.
. "$(dirname "$0")/lib/docker.sh"
host_leftovers_note
W=$(mktemp -d /tmp/berth-api.XXXXXX)
chmod 755 "$W"
TAG=api$$
GRP=bapi$$
UIN=bapiin$$
UOUT=bapiout$$
passed=0 failed=0
SERVER_PID=

free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 20000))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
}

cleanup() {
    set +e
    stop_server
    registry_stop
    userdel "$UIN" 2>/dev/null
    userdel "$UOUT" 2>/dev/null
    groupdel "$GRP" 2>/dev/null
    rm -rf "$W"
    host_leftovers_clean
}
trap cleanup EXIT

check() {
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then
        passed=$((passed + 1))
        echo "ok   $TARGET: $name"
    else
        failed=$((failed + 1))
        echo "FAIL $TARGET: $name"
        printf '%s\n' "$out" | tail -15 | sed 's/^/     /'
    fi
}

# expect REGEX CMD...: CMD succeeds and prints a line matching REGEX.
expect() {
    local re=$1 out
    shift
    out=$("$@" 2>&1) || { printf '%s\n' "$out"; echo "(exit $?)"; return 1; }
    grep -qE -- "$re" <<<"$out" || { printf '%s\n' "$out"; echo "(no line matches $re)"; return 1; }
}

# exits WANT CMD...: CMD exits with WANT.
exits() {
    local want=$1 rc
    shift
    "$@"
    rc=$?
    [ "$rc" -eq "$want" ] || { echo "exit status $rc, want $want"; return 1; }
}

# exits_nonzero CMD...: CMD fails.
exits_nonzero() {
    if "$@"; then
        echo "succeeded, should have failed"
        return 1
    fi
}

# until_ok SECONDS CMD...: CMD succeeds within SECONDS (polled).
until_ok() {
    local end=$((SECONDS + $1))
    shift
    while [ $SECONDS -lt $end ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    "$@"
}

# ---- fixtures shared by both targets ----
mkdir -p "$W/rootfs/bin" "$W/rootfs/etc" "$W/rootfs/tmp" "$W/www"
cp /bin/busybox "$W/rootfs/bin/busybox"
/bin/busybox --list | while read -r a; do
    [ "$a" = busybox ] || ln -sf busybox "$W/rootfs/bin/$a"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$W/rootfs/etc/passwd"
echo 'root:x:0:' >"$W/rootfs/etc/group"
tar -C "$W/rootfs" -cf "$W/rootfs.tar" .
IMG=apitest/busybox:$TAG
"$BIN/berth" --root "$W/prep" import -c 'CMD ["sh"]' -c 'ENV PATH=/bin' "$W/rootfs.tar" "$IMG" >/dev/null \
    && "$BIN/berth" --root "$W/prep" save -o "$W/bb.tar" "$IMG" \
    || { echo "making the busybox archive failed" >&2; exit 1; }
echo "hello from the host" >"$W/www/index.html"

registry_start "$W/registry" || exit 1
REG=127.0.0.1:$REGISTRY_PORT

# Mutual TLS for the TCP socket: a CA, the server's certificate (for
# 127.0.0.1) and a client's, as docker's "protect the daemon socket" guide.
mkdir -p "$W/tls"
(
    cd "$W/tls" || exit 1
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=berth-test-ca -keyout ca-key.pem -out ca.pem
    openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server-key.pem -out server.csr
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -extfile server.ext -out server-cert.pem
    openssl req -newkey rsa:2048 -nodes -subj /CN=client -keyout key.pem -out client.csr
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -extfile client.ext -out cert.pem
) >"$W/tls.log" 2>&1 || { echo "openssl failed" >&2; cat "$W/tls.log" >&2; exit 1; }
TLS_SERVER=(--tlsverify --tlscacert "$W/tls/ca.pem" --tlscert "$W/tls/server-cert.pem" --tlskey "$W/tls/server-key.pem")

groupadd "$GRP" && useradd -M -N -g "$GRP" -s /bin/sh "$UIN" && useradd -M -N -s /bin/sh "$UOUT" \
    || { echo "cannot make the test users" >&2; exit 1; }

stop_server() {
    if [ -n "$SERVER_PID" ]; then
        if [ -n "${SOCK:-}" ] && [ -S "$SOCK" ]; then
            local ids
            ids=$(DOCKER_HOST=unix://$SOCK docker ps -aq 2>/dev/null)
            [ -z "$ids" ] || DOCKER_HOST=unix://$SOCK docker rm -f $ids >/dev/null 2>&1
            DOCKER_HOST=unix://$SOCK docker network prune -f >/dev/null 2>&1
        fi
        kill "$SERVER_PID" 2>/dev/null
        local i
        for i in $(seq 1 150); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
        SERVER_PID=
    fi
    if [ -n "$DOCKERD_PID" ]; then
        DOCKER_HOST= dk network prune -f >/dev/null 2>&1
        DOCKER_HOST= dockerd_stop
        # dockerd leaves its --cgroup-parent behind, empty.
        local cg
        for cg in /sys/fs/cgroup/*/"berth-api-$$" /sys/fs/cgroup/"berth-api-$$"; do
            [ -d "$cg" ] && rmdir "$cg" 2>/dev/null
        done
    fi
}

start_berth() {
    local root=$W/berth/root
    mkdir -p "$root/networks"
    echo "{\"bridge_prefix\":\"ba$$\",\"pool\":\"10.196.0.0/16\"}" >"$root/networks/config.json"
    SOCK=$W/berth/api.sock
    TLS_PORT=$(free_port)
    "$BIN/berth" --root "$root" --insecure-registry "$REG" serve -H "unix://$SOCK" --group "$GRP" \
        -H "tcp://127.0.0.1:$TLS_PORT" "${TLS_SERVER[@]}" >"$W/berth/serve.log" 2>&1 &
    SERVER_PID=$!
    until_ok 10 curl -sf --unix-socket "$SOCK" http://d/_ping
}

start_dockerd() {
    SOCK=$W/docker/docker.sock
    TLS_PORT=$(free_port)
    dockerd_start "$W/docker" --group "$GRP" -H "tcp://127.0.0.1:$TLS_PORT" "${TLS_SERVER[@]}" \
        --cgroup-parent "/berth-api-$$" --bridge none --userland-proxy=true \
        --default-address-pool base=10.195.0.0/16,size=24 --insecure-registry "$REG"
}

# ---- the workflows, the same for every server ----
d() { docker "$@"; }

run_workflows() {
    export DOCKER_HOST=unix://$SOCK DOCKER_CONFIG=$W/cli-$TARGET
    mkdir -p "$DOCKER_CONFIG"
    local NET=net$TAG P
    check "ping and version (API 1.41)" expect '^1\.41$' d version --format '{{.Server.APIVersion}}'
    check "load the busybox archive" expect "Loaded image|^$" d load -i "$W/bb.tar"
    check "images lists it" expect "^apitest/busybox +$TAG " d images
    check "run --rm prints the output" expect '^hello$' d run --rm --network none "$IMG" echo hello
    check "the exit code is passed through" exits 3 d run --rm --network none "$IMG" sh -c 'exit 3'
    check "stderr comes back on stderr" expect '^to-err$' sh -c "docker run --rm --network none $IMG sh -c 'echo to-err >&2' 2>&1 >/dev/null"
    check "stdin with -i" expect '^piped$' sh -c "echo piped | docker run --rm -i --network none $IMG cat"
    # (util-linux script may pass a NUL on to the terminal, echoed as ^@.)
    check "run -it gets a terminal" expect '/dev/pts/[0-9]' script -eqc "docker run --rm -it --network none $IMG tty" /dev/null
    check "a user network" expect '^[0-9a-f]{64}$' d network create "$NET"
    P=$(free_port)
    check "run -d -p 127.0.0.1:P:80 httpd" expect '^[0-9a-f]{64}$' \
        d run -d --name "web$TAG" --network "$NET" -p "127.0.0.1:$P:80" -v "$W/www:/www:ro" "$IMG" httpd -f -p 80 -h /www
    check "curl reaches the published port" until_ok 10 curl -sf "http://127.0.0.1:$P/"
    check "ps shows it with its port" expect "127\.0\.0\.1:$P->80/tcp +web$TAG" d ps
    check "a peer reaches it by name" expect 'hello from the host' \
        d run --rm --network "$NET" "$IMG" wget -qO- "http://web$TAG/"
    check "exec" expect '^in-exec$' d exec "web$TAG" echo in-exec
    check "exec's exit code" exits 4 d exec "web$TAG" sh -c 'exit 4'
    check "exec -it" expect '/dev/pts/[0-9]' script -eqc "docker exec -it web$TAG tty" /dev/null
    check "inspect" expect '^running true$' d inspect -f '{{.State.Status}} {{.State.Running}}' "web$TAG"
    check "cp into and out of a container" cp_both_ways "web$TAG"
    check "top" expect 'httpd -f -p 80' d top "web$TAG"
    check "stats --no-stream" expect "^web$TAG 1\$" d stats --no-stream --format '{{.Name}} {{.PIDs}}' "web$TAG"
    check "system df" expect '^Images ' d system df
    check "stop" expect "^web$TAG\$" d stop -t 1 "web$TAG"
    check "stopped: exited in ps -a" expect "Exited \([0-9]+\).* web$TAG" d ps -a
    check "start again" expect "^web$TAG\$" d start "web$TAG"
    check "rm -f" expect "^web$TAG\$" d rm -f "web$TAG"
    check "the name is free again" expect '^$|^[0-9a-f]' sh -c "docker ps -aq --filter name=web$TAG"

    check "logs and logs -f" logs_follow
    check "attach, then ctrl-p ctrl-q detaches" detach_keys
    check "tag, push to a registry, rmi, pull" push_pull
    check "save | load" expect "^apitest/busybox +$TAG " sh -c \
        "docker save $IMG > $W/saved-$TARGET.tar && docker rmi $IMG >/dev/null && docker load -i $W/saved-$TARGET.tar >/dev/null && docker images"
    check "commit keeps the container's changes and config" commit_run
    check "build with the classic builder" build_run
    check "a named volume keeps data between containers" volume_data
    check "events shows a container's life" events_seen
    check "a user in the socket's group runs ps and run --rm" expect '^group-ok$' \
        su -s /bin/sh "$UIN" -c "DOCKER_HOST=unix://$SOCK DOCKER_CONFIG=$W/cli-$TARGET-u docker run --rm --network none $IMG echo group-ok"
    check "a user outside the group is refused" expect 'permission denied' sh -c \
        "su -s /bin/sh $UOUT -c 'DOCKER_HOST=unix://$SOCK DOCKER_CONFIG=$W/cli-$TARGET-o docker ps' 2>&1; true"
    check "TCP with mutual TLS: a client with a certificate" expect '^1\.41$' \
        docker -H "tcp://127.0.0.1:$TLS_PORT" --tlsverify --tlscacert "$W/tls/ca.pem" \
        --tlscert "$W/tls/cert.pem" --tlskey "$W/tls/key.pem" version --format '{{.Server.APIVersion}}'
    check "TCP with mutual TLS: a client without one is refused" exits_nonzero \
        curl -sf --max-time 10 --cacert "$W/tls/ca.pem" "https://127.0.0.1:$TLS_PORT/_ping"
    check "TCP with mutual TLS: plain HTTP gets nothing" exits_nonzero \
        curl -sf --max-time 10 "http://127.0.0.1:$TLS_PORT/_ping"
    check "docker-compose: up, ps, logs, exec, down -v" compose_app
    check "docker-py: containers.run, logs, images.pull, networks.create" docker_py
    check "the user network is removed" expect "^$NET\$" d network rm "$NET"
}

logs_follow() {
    local id
    id=$(d run -d --network none "$IMG" sh -c 'echo one; sleep 1; echo two') || return 1
    timeout 20 docker logs -f "$id" >"$W/follow-$TARGET" 2>&1 || { cat "$W/follow-$TARGET"; return 1; }
    [ "$(tr '\n' ' ' <"$W/follow-$TARGET")" = "one two " ] || { cat "$W/follow-$TARGET"; return 1; }
    expect '^two$' d logs --tail 1 "$id" || return 1
    d rm "$id" >/dev/null
}

detach_keys() {
    local id
    id=$(d run -dit --network none "$IMG" sh) || return 1
    # script forwards its stdin to the terminal: ctrl-p ctrl-q after a beat.
    { sleep 1; printf '\020\021'; sleep 3; } | timeout 20 script -eqc "docker attach $id" /dev/null >/dev/null 2>&1
    local r
    r=$(d inspect -f '{{.State.Running}}' "$id")
    d rm -f "$id" >/dev/null
    [ "$r" = true ] || { echo "running after the detach: $r"; return 1; }
}

push_pull() {
    local r=$REG/apitest-$TARGET:1
    d tag "$IMG" "$r" || return 1
    expect 'digest: sha256:' d push "$r" || return 1
    d rmi "$r" >/dev/null || return 1
    expect "Downloaded newer image|Image is up to date" d pull "$r" || return 1
    expect '^pulled$' d run --rm --network none "$r" echo pulled || return 1
    d rmi "$r" >/dev/null
}

commit_run() {
    d run --name "cm$TAG" --network none -e MYVAR=1 -w /tmp "$IMG" sh -c 'echo made > /made' || return 1
    d commit -m note -c 'CMD ["cat", "/made"]' "cm$TAG" "apitest/committed:$TAG" >/dev/null || return 1
    expect '^made$' d run --rm --network none "apitest/committed:$TAG" || return 1
    expect '^MYVAR=1$' d inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "apitest/committed:$TAG" || return 1
    expect '^/tmp note$' d inspect -f '{{.Config.WorkingDir}} {{.Comment}}' "apitest/committed:$TAG" || return 1
    d rm "cm$TAG" >/dev/null && d rmi "apitest/committed:$TAG" >/dev/null
}

cp_both_ways() {
    local c=$1
    echo "copied in" >"$W/cp-in-$TARGET"
    d cp "$W/cp-in-$TARGET" "$c:/tmp/in.txt" || return 1
    expect '^copied in$' d exec "$c" cat /tmp/in.txt || return 1
    rm -rf "$W/cp-out-$TARGET" && mkdir "$W/cp-out-$TARGET"
    d cp "$c:/tmp/in.txt" "$W/cp-out-$TARGET/" || return 1
    [ "$(cat "$W/cp-out-$TARGET/in.txt")" = "copied in" ] || { echo "copied out: $(cat "$W/cp-out-$TARGET/in.txt")"; return 1; }
}

build_run() {
    local dir=$W/build-$TARGET
    mkdir -p "$dir"
    echo "from the context" >"$dir/ctx.txt"
    printf 'FROM %s\nCOPY ctx.txt /ctx.txt\nRUN echo built > /b\nCMD ["sh", "-c", "cat /b /ctx.txt"]\n' "$IMG" >"$dir/Dockerfile"
    DOCKER_BUILDKIT=0 docker build --network none -t "apitest/built:$TAG" "$dir" || return 1
    expect '^from the context$' d run --rm --network none "apitest/built:$TAG" || return 1
    d rmi "apitest/built:$TAG" >/dev/null
}

volume_data() {
    local v=vol$TAG
    d volume create "$v" >/dev/null || return 1
    d run --rm --network none -v "$v:/data" "$IMG" sh -c 'echo kept > /data/f' || return 1
    expect '^kept$' d run --rm --network none -v "$v:/data" "$IMG" cat /data/f || return 1
    expect "^local +$v\$" d volume ls || return 1
    d volume rm "$v" >/dev/null
}

events_seen() {
    local since id
    since=$(date +%s)
    id=$(d run -d --name "ev$TAG" --network none "$IMG" true) || return 1
    d wait "$id" >/dev/null
    d rm "$id" >/dev/null
    local out
    out=$(timeout 10 docker events --since "$since" --until "$(($(date +%s) + 1))" --filter "container=ev$TAG" --format '{{.Action}}') || return 1
    for a in create start die destroy; do
        grep -qx "$a" <<<"$out" || { echo "no $a event in: $out"; return 1; }
    done
}

compose_app() {
    local dir=$W/compose-$TARGET P
    P=$(free_port)
    mkdir -p "$dir"
    cat >"$dir/docker-compose.yml" <<EOF
version: "3"
services:
  web:
    image: $IMG
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
    ports: ["127.0.0.1:$P:80"]
    volumes: ["site:/www"]
  client:
    image: $IMG
    command: ["sh", "-c", "until wget -qO- http://web/hi.txt; do sleep 0.2; done; sleep 1000"]
volumes:
  site: {}
EOF
    local c="docker-compose -p ca$TAG -f $dir/docker-compose.yml"
    $c up -d || return 1
    $c exec -T web sh -c 'echo compose-page > /www/hi.txt' || { $c down -v; return 1; }
    until_ok 20 sh -c "$c logs client | grep -q compose-page" || { $c logs; $c down -v; return 1; }
    until_ok 10 curl -sf "http://127.0.0.1:$P/hi.txt" || { $c down -v; return 1; }
    expect 'Up' $c ps || { $c down -v; return 1; }
    $c down -v || return 1
    [ -z "$(docker ps -aq --filter name=ca$TAG)" ] || { echo "containers left"; return 1; }
    ! docker volume ls -q | grep -q "ca${TAG}_site" || { echo "volume left"; return 1; }
}

docker_py() {
    /usr/bin/python3 - "$IMG" "$REG" "$TARGET" <<'EOF'
import sys, docker
img, reg, target = sys.argv[1:4]
c = docker.from_env()
out = c.containers.run(img, ["echo", "py-hello"], remove=True, network_mode="none")
assert out == b"py-hello\n", out
ctr = c.containers.run(img, ["sh", "-c", "echo py-log"], detach=True, network_mode="none")
assert ctr.wait()["StatusCode"] == 0
assert ctr.logs() == b"py-log\n", ctr.logs()
ctr.remove()
c.images.get(img).tag(f"{reg}/apitest-py-{target}", "1")
for line in c.images.push(f"{reg}/apitest-py-{target}", "1", stream=True, decode=True):
    assert "error" not in line, line
c.images.remove(f"{reg}/apitest-py-{target}:1")
p = c.images.pull(f"{reg}/apitest-py-{target}", tag="1")
assert f"{reg}/apitest-py-{target}:1" in p.tags, p.tags
c.images.remove(f"{reg}/apitest-py-{target}:1")
n = c.networks.create(f"pynet{target}")
assert n.name in [x.name for x in c.networks.list()]
n.remove()
print("docker-py ok")
EOF
}

for TARGET in berth dockerd; do
    [ "$WHICH" = both ] || [ "$WHICH" = "$TARGET" ] || continue
    echo "=== against $TARGET"
    if "start_$TARGET"; then
        run_workflows
    else
        failed=$((failed + 1))
        echo "FAIL $TARGET: the server did not start"
        tail -20 "$W/$TARGET/serve.log" "$W/docker/log" 2>/dev/null
    fi
    stop_server
done

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
