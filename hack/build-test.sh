#!/usr/bin/env bash
# Builds each Dockerfile of hack/build-cases/ with berth and with a private
# dockerd 20.10's classic builder (DOCKER_BUILDKIT=0), from the same busybox
# base imported into both, and compares the results:
#   - the image config (Cmd, Entrypoint, Env, WorkingDir, User, ExposedPorts,
#     Volumes, Labels, Healthcheck, StopSignal, Shell, OnBuild, Author),
#   - the history after the base's: created_by and empty_layer,
#   - the file tree of `export` of a container of each: names, types, modes,
#     owners, link targets and contents (not times),
#   - for a case that fails: both fail, with the same exit code and docker's line;
# then berth pushes one of its images to a local docker-registry, docker pulls
# it and runs it.
# A case is a directory with a Dockerfile and its context; `flags` holds
# extra build flags for both.
#
#   hack/build-test.sh [BERTH_BIN]      (default: target/<triple>/debug/berth)
#
# Intended differences, each normalised away below with its reason:
#   - COPY/ADD's `file:<hash>`/`dir:`/`multi:` (a bare hash for one URL) in
#     created_by: docker hashes with its tarsum, berth with sha256 over paths,
#     modes and contents; the kind (file, dir, multi) and the rest of the line
#     must agree.
#   - Mount points each engine makes in a container (/.dockerenv, /etc/hosts,
#     /etc/hostname, /etc/resolv.conf, /dev, /proc, /sys) are not the image's.
#   - Directory modes and owners of /dev, /proc, /sys and times: not compared.
#   - A hard link is compared as its target's file: docker's `export` writes
#     hard links, berth's writes each name as a file.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
BERTH=${1:-$REPO/target/$("$HERE/triple")/debug/berth}
[ -x "$BERTH" ] || { echo "no berth binary at $BERTH: cargo build --workspace" >&2; exit 2; }
for tool in /usr/sbin/dockerd /usr/bin/docker /bin/busybox python3 curl docker-registry; do
    command -v "$tool" >/dev/null || { echo "missing $tool: run hack/setup" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "must run as root" >&2; exit 2; }

W=$(mktemp -d /tmp/berth-build.XXXXXX)
DOCKER_SOCK=$W/docker/docker.sock
DCG=berth-build-$$
DOCKERD_PID=
HOST_LEFTOVERS=()
for f in /etc/docker/key.json /etc/docker /run/docker/plugins /run/docker; do
    [ -e "$f" ] || HOST_LEFTOVERS+=("$f")
done

d() { DOCKER_CONFIG=$W/docker/cli DOCKER_BUILDKIT=0 /usr/bin/docker -H "unix://$DOCKER_SOCK" "$@"; }
b() { "$BERTH" --root "$W/berth" "$@"; }

HTTP_PID=
REG_PID=
cleanup() {
    set +e
    [ -z "$HTTP_PID" ] || kill "$HTTP_PID" 2>/dev/null
    [ -z "$REG_PID" ] || kill "$REG_PID" 2>/dev/null
    if [ -n "$DOCKERD_PID" ]; then
        ids=$(d ps -aq 2>/dev/null)
        [ -z "$ids" ] || d rm -f $ids >/dev/null 2>&1
        kill "$DOCKERD_PID" 2>/dev/null
        for _ in $(seq 1 150); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$DOCKERD_PID" 2>/dev/null
        wait "$DOCKERD_PID" 2>/dev/null
    fi
    for p in /proc/[0-9]*; do
        tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF -- "$W/docker/" && kill -9 "${p#/proc/}" 2>/dev/null
    done
    ids=$(b ps -aq 2>/dev/null)
    [ -z "$ids" ] || b rm -f $ids >/dev/null 2>&1
    for cg in /sys/fs/cgroup/*/"$DCG" /sys/fs/cgroup/"$DCG"; do
        [ -d "$cg" ] && rmdir "$cg" 2>/dev/null
    done
    awk -v w="$W" '$5 == w || index($5, w "/") == 1 { print $5 }' /proc/self/mountinfo \
        | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
    rm -rf "$W"
    for f in "${HOST_LEFTOVERS[@]}"; do
        if [ -d "$f" ]; then rmdir "$f" 2>/dev/null; else rm -f "$f"; fi
    done
}
trap cleanup EXIT

# The base: static busybox with every applet, a passwd with an `app` user.
R=$W/rootfs
mkdir -p "$R/bin" "$R/etc" "$R/tmp" "$R/root"
cp /bin/busybox "$R/bin/busybox"
for a in $(/bin/busybox --list); do [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\napp:x:1000:\n' >"$R/etc/group"
chmod 1777 "$R/tmp"
tar -C "$R" --numeric-owner -cf "$W/rootfs.tar" .

mkdir -p "$W/docker/cli"
echo '{}' >"$W/docker/daemon.json"
/usr/sbin/dockerd --config-file "$W/docker/daemon.json" \
    --data-root "$W/docker/data" --exec-root "$W/docker/exec" \
    -H "unix://$DOCKER_SOCK" --pidfile "$W/docker/dockerd.pid" \
    --exec-opt native.cgroupdriver=cgroupfs --cgroup-parent "/$DCG" \
    --bridge none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
    --storage-driver overlay2 >"$W/docker/log" 2>&1 &
DOCKERD_PID=$!
for _ in $(seq 1 150); do d version >/dev/null 2>&1 && break; sleep 0.1; done
d version >/dev/null 2>&1 || { echo "dockerd did not start:"; tail -20 "$W/docker/log"; exit 1; }

d import -c 'CMD ["/bin/sh"]' "$W/rootfs.tar" bbase:1 >/dev/null || exit 1
b import -c 'CMD ["/bin/sh"]' "$W/rootfs.tar" bbase:1 >/dev/null || exit 1

# compare.py KIND A B: prints the differences, exits 1 if any.
cat >"$W/compare.py" <<'EOF'
import hashlib, json, re, sys, tarfile

def saved(path):
    t = tarfile.open(path)
    m = json.load(t.extractfile("manifest.json"))[0]
    return json.load(t.extractfile(m["Config"]))

KEYS = ["Cmd", "Entrypoint", "Env", "WorkingDir", "User", "ExposedPorts", "Volumes",
        "Labels", "Healthcheck", "StopSignal", "Shell", "OnBuild"]

def config(c, base_n):
    cc = c.get("config") or {}
    out = {k: cc.get(k) or None for k in KEYS}
    out["Author"] = c.get("author") or None
    hist = []
    for h in c.get("history", [])[base_n:]:
        cb = re.sub(r"((?:file|dir|multi):)?[0-9a-f]{64}", r"\1HASH", h.get("created_by", ""))
        hist.append((cb, bool(h.get("empty_layer"))))
    out["history"] = hist
    return out

SKIP = re.compile(r"^(\.dockerenv|etc/hosts|etc/hostname|etc/resolv\.conf|etc/mtab|dev|proc|sys)(/|$)")

def tree(path):
    t = tarfile.open(path)
    out = {}
    for m in t.getmembers():
        n = m.name
        while n.startswith("./") or n.startswith("/"):
            n = n[1:] if n.startswith("/") else n[2:]
        n = n.rstrip("/")
        if n == ".":
            continue
        if not n or SKIP.match(n):
            continue
        data = ""
        if m.isfile():
            data = hashlib.sha256(t.extractfile(m).read()).hexdigest()[:16]
        out[n] = (m.type.decode() if isinstance(m.type, bytes) else m.type, oct(m.mode), m.uid, m.gid, m.linkname, data)
    # A hard link is its target's file: docker's export writes links, berth's copies.
    for n, v in out.items():
        if v[0] == "1":
            out[n] = out.get(v[4].lstrip("/"), v)
    return out

kind, a, b = sys.argv[1], sys.argv[2], sys.argv[3]
bad = 0
if kind == "config":
    base_n = int(sys.argv[4])
    x, y = config(saved(a), base_n), config(saved(b), base_n)
    for k in x:
        if x[k] != y[k]:
            bad = 1
            print(f"  {k}:\n    docker: {x[k]}\n    berth:  {y[k]}")
else:
    x, y = tree(a), tree(b)
    for n in sorted(set(x) | set(y)):
        if x.get(n) != y.get(n):
            bad = 1
            print(f"  /{n}: docker {x.get(n)} berth {y.get(n)}")
sys.exit(bad)
EOF

history_len() {
    python3 -c "
import json,sys,tarfile
t=tarfile.open(sys.argv[1]); m=json.load(t.extractfile('manifest.json'))[0]
print(len(json.load(t.extractfile(m['Config'])).get('history',[])))" "$1"
}
d save bbase:1 >"$W/base-d.tar" && b save -o "$W/base-b.tar" bbase:1 || exit 1
BASE_N=$(history_len "$W/base-d.tar")
BERTH_BASE_N=$(history_len "$W/base-b.tar")
# The two bases' own history differs (import's line); both must have one entry.
[ "$BASE_N" = "$BERTH_BASE_N" ] || { echo "base history: docker $BASE_N entries, berth $BERTH_BASE_N"; exit 1; }

# An HTTP server on 127.0.0.1 for ADD of a URL (cases' flags say @HTTP@).
mkdir -p "$W/http/dir"
printf 'from the web\n' >"$W/http/remote.txt"
head -c 3000 /dev/urandom >"$W/http/dir/other.bin"
HTTP_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server "$HTTP_PORT" --bind 127.0.0.1 --directory "$W/http" >"$W/http.log" 2>&1 &
HTTP_PID=$!
for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$HTTP_PORT/remote.txt" >/dev/null 2>&1 && break
    sleep 0.1
done

pass=0 fail=0
for dir in "$HERE"/build-cases/*/; do
    name=$(basename "$dir")
    flags=()
    [ -f "$dir/flags" ] && read -r -a flags < <(sed "s|@HTTP@|http://127.0.0.1:$HTTP_PORT|g" "$dir/flags")
    tag=bt-$name:1
    d build --network none "${flags[@]}" -t "$tag" "$dir" >"$W/$name.docker.out" 2>&1
    drc=$?
    b build --network none "${flags[@]}" -t "$tag" "$dir" >"$W/$name.berth.out" 2>&1
    brc=$?
    ok=1
    if [ "$drc" != 0 ] || [ "$brc" != 0 ]; then
        dl=$(grep -o "The command .* returned a non-zero code: [0-9]*" "$W/$name.docker.out")
        bl=$(grep -o "The command .* returned a non-zero code: [0-9]*" "$W/$name.berth.out" | head -1)
        if [ "$drc" != "$brc" ] || [ "$dl" != "$bl" ] || [ -z "$dl" ]; then
            ok=0
            echo "  exit: docker $drc berth $brc"
            echo "  docker: $(tail -3 "$W/$name.docker.out")"
            echo "  berth:  $(tail -3 "$W/$name.berth.out")"
        fi
        # A failed RUN leaves no container behind in either.
        [ -z "$(b ps -aq)" ] || { ok=0; echo "  berth left a container"; }
    else
        d save "$tag" >"$W/d.tar" && b save -o "$W/b.tar" "$tag" \
            && python3 "$W/compare.py" config "$W/d.tar" "$W/b.tar" "$BASE_N" || ok=0
        d create --name "c-$name" "$tag" >/dev/null && d export "c-$name" >"$W/dx.tar" \
            && b create --name "c-$name" "$tag" >/dev/null && b export -o "$W/bx.tar" "c-$name" \
            && python3 "$W/compare.py" tree "$W/dx.tar" "$W/bx.tar" || ok=0
        d rm -f "c-$name" >/dev/null 2>&1
        b rm -f "c-$name" >/dev/null 2>&1
    fi
    if [ $ok = 1 ]; then
        echo "ok   $name"
        pass=$((pass + 1))
    else
        echo "FAIL $name (outputs in $W/$name.*.out)"
        [ -n "${KEEP:-}" ] && cp "$W/$name".*.out /tmp/ 2>/dev/null
        fail=$((fail + 1))
    fi
done
# A berth-built image through a local docker-registry: berth pushes it,
# docker pulls it and runs it, and says what berth's run says.
REG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$W/registry.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $W/registry
http:
  addr: 127.0.0.1:$REG_PORT
YML
docker-registry serve "$W/registry.yml" >"$W/registry.log" 2>&1 &
REG_PID=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$REG_PORT/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
roundtrip() {
    local ref=127.0.0.1:$REG_PORT/bt/multistage:1 want got
    b tag bt-multistage:1 "$ref" && b push "$ref" >/dev/null 2>&1 || return 1
    d pull "$ref" >/dev/null || return 1
    want=$(b run --rm --network none "$ref" sh -c 'cat /from-build /etc/passwd; ls -ln /from-second /globbed')
    got=$(d run --rm --network none "$ref" sh -c 'cat /from-build /etc/passwd; ls -ln /from-second /globbed')
    [ -n "$want" ] && [ "$want" = "$got" ] || { echo "  berth: $want"; echo "  docker: $got"; return 1; }
}
if roundtrip; then
    echo "ok   push to a registry, docker pulls and runs it"
    pass=$((pass + 1))
else
    echo "FAIL push to a registry, docker pulls and runs it"
    fail=$((fail + 1))
fi
# A FROM image neither store has: both builders pull it from the registry
# (docker's classic builder does), with docker pull's lines in the output.
pullbase() {
    local base=127.0.0.1:$REG_PORT/bt/pullbase:1 c=$W/pullcase want got
    b tag bt-multistage:1 "$base" && b push "$base" >/dev/null 2>&1 && b rmi "$base" >/dev/null || return 1
    mkdir -p "$c"
    printf 'FROM %s\nRUN cat /from-build > /again\n' "$base" >"$c/Dockerfile"
    d build --network none -t bt-pulled:1 "$c" >"$W/pullbase.docker.out" 2>&1 || return 1
    b build --network none -t bt-pulled:1 "$c" >"$W/pullbase.berth.out" 2>&1 || return 1
    grep -q "Status: Downloaded newer image for $base" "$W/pullbase.docker.out" || { echo "  docker did not pull"; return 1; }
    grep -q "Status: Downloaded newer image for $base" "$W/pullbase.berth.out" || { echo "  berth did not pull: $(tail -3 "$W/pullbase.berth.out")"; return 1; }
    want=$(d run --rm --network none bt-pulled:1 cat /again)
    got=$(b run --rm --network none bt-pulled:1 cat /again)
    [ -n "$want" ] && [ "$want" = "$got" ] || { echo "  berth: $got"; echo "  docker: $want"; return 1; }
}
if pullbase; then
    echo "ok   a FROM image only the registry has is pulled by both"
    pass=$((pass + 1))
else
    echo "FAIL a FROM image only the registry has is pulled by both"
    fail=$((fail + 1))
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
