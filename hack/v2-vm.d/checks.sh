#!/bin/busybox sh
# Direct checks of berth-runtime on a pure cgroup v2 host (run inside the VM
# by hack/v2-vm): limits written to the cgroup files and seen from inside,
# enforcement (pids, OOM, devices), freeze, kill, update, stats, removal.
# Output is TAP-like, closed by "N passed, N failed, N skipped".

RT=/bin/berth-runtime
STATE=/run/berth-v2vm
WORK=/tmp/v2vm
CG=/sys/fs/cgroup
ROOTFS=$WORK/rootfs
n=0 passed=0 failed=0 skipped=0

ok() { n=$((n + 1)) passed=$((passed + 1)); echo "ok $n - $1"; }
not_ok() {
    n=$((n + 1)) failed=$((failed + 1))
    echo "not ok $n - $1"
    shift
    for l in "$@"; do echo "$l" | sed 's/^/#   /'; done
}
skip() { n=$((n + 1)) skipped=$((skipped + 1)); echo "ok $n - $1 # SKIP $2"; }
# eq DESC WANT GOT
eq() { if [ "$3" = "$2" ]; then ok "$1"; else not_ok "$1" "want: $2" "got:  $3"; fi; }
# true_ DESC CMD...: passes if CMD succeeds
true_() {
    local desc=$1
    shift
    if "$@"; then ok "$desc"; else not_ok "$desc" "failed: $*"; fi
}
rd() { cat "$1" 2>&1 | tr '\n' ' ' | sed 's/ $//'; }
rt() { timeout 30 $RT --root $STATE "$@"; }

status() { rt state "$1" 2>/dev/null | grep -o '"status": *"[a-z]*"' | sed 's/.*"\([a-z]*\)"$/\1/'; }
# wait_status ID STATUS: up to 10 s
wait_status() {
    local i=0
    while [ $i -lt 100 ]; do
        [ "$(status "$1")" = "$2" ] && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}
# wait_for SECONDS CMD...: until CMD succeeds
wait_for() {
    local t=$(($1 * 10)) i=0
    shift
    while [ $i -lt $t ]; do
        "$@" && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

mkdir -p $ROOTFS $STATE
for d in bin sbin usr/bin usr/sbin etc proc sys dev tmp root; do mkdir -p $ROOTFS/$d; done
cp /bin/busybox $ROOTFS/bin/busybox
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox $ROOTFS/bin/$a; done
echo 'root:x:0:0:root:/root:/bin/sh' >$ROOTFS/etc/passwd
echo 'root:x:0:' >$ROOTFS/etc/group

# bundle NAME ARGS_JSON [RESOURCES_JSON] [EXTRA_LINUX_JSON] [CGROUPS_PATH]
# writes $WORK/NAME/config.json (runc spec's shape) and sets B to the bundle.
bundle() {
    B=$WORK/$1
    mkdir -p $B
    local res=${3:-'{}'} extra=${4:+$4,} cgp=${5:-/v2vm/$1} ns
    ns='{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}'
    [ -n "$HOST_NETNS" ] && ns='{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}'
    [ -n "$NO_CGROUPNS" ] && ns='{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}'
    local sys='{"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}'
    [ -n "$HOST_NETNS" ] && sys='{"destination": "/sys", "type": "bind", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}'
    cat >$B/config.json <<JSON
{
  "ociVersion": "1.0.2",
  "process": {
    "terminal": false, "user": {"uid": 0, "gid": 0}, "args": $2,
    "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "cwd": "/",
    "capabilities": {
      "bounding": ["CAP_KILL", "CAP_SYSLOG"], "effective": ["CAP_KILL", "CAP_SYSLOG"],
      "permitted": ["CAP_KILL", "CAP_SYSLOG"]
    },
    "noNewPrivileges": true
  },
  "root": {"path": "$ROOTFS"},
  "hostname": "v2vm",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    $sys,
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
  ],
  "linux": {
    $extra
    "cgroupsPath": "$cgp",
    "resources": $res,
    "namespaces": [$ns]
  }
}
JSON
}

# create NAME: create + start in the background, output in $B/out
start_ct() {
    if ! rt create --bundle "$B" "$1" </dev/null >"$B/out" 2>&1; then
        echo "# create $1 failed:"; sed 's/^/#   /' "$B/out"
        return 1
    fi
    rt start "$1" || return 1
}
cleanup() { rt delete --force "$1" >/dev/null 2>&1; }
no_state() { ! rt state "$1" >/dev/null 2>&1; }
cgdir() { echo "$CG/v2vm/$1"; }
stat_field() { # stat_field JSON REGEX: the first number after REGEX
    echo "$1" | grep -o "$2[0-9]*" | head -1 | grep -o '[0-9]*$'
}

# --- memory: limit, reservation, swap; seen from inside too
bundle mem '["sh", "-c", "cat /sys/fs/cgroup/memory.max; cat /proc/self/cgroup; sleep 1000"]' \
    '{"memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728}}'
if start_ct mem; then
    d=$(cgdir mem)
    pid=$(rt state mem | grep -o '"pid": *[0-9]*' | grep -o '[0-9]*$')
    true_ "memory: the container's init ($pid) is in $d/cgroup.procs" grep -qx "$pid" $d/cgroup.procs
    eq "memory: memory.max" 67108864 "$(rd $d/memory.max)"
    eq "memory: memory.low from reservation" 33554432 "$(rd $d/memory.low)"
    eq "memory: memory.swap.max is swap minus limit" 67108864 "$(rd $d/memory.swap.max)"
    wait_for 5 grep -q '^0::' $B/out
    eq "memory: memory.max read inside the container (cgroupns root)" "67108864 0::/" "$(rd $B/out)"
    true_ "ps --format json lists the container's init" sh -c "$RT --root $STATE ps --format json mem | grep -qE '[[,]$pid[],]'"
else
    not_ok "memory: create/start" "$(cat $B/out)"
fi
cleanup mem

# --- the process runs its user code already inside its cgroup
NO_CGROUPNS=1 bundle own '["cat", "/proc/self/cgroup"]'
if start_ct own && wait_status own stopped; then
    eq "user code starts inside the cgroup (no cgroupns)" "0::/v2vm/own" "$(rd $B/out)"
else
    not_ok "own cgroup: run" "$(cat $B/out)"
fi
cleanup own
true_ "delete removes the cgroup of a stopped container" test ! -e "$(cgdir own)"

# --- sharing the host's network namespace, sysfs cannot be mounted anew and
# /sys is a bind of the host's (as engines do): /sys/fs/cgroup must still
# come up, showing the container's own cgroup.
HOST_NETNS=1 bundle hostnet '["sh", "-c", "cat /sys/fs/cgroup/memory.max; sleep 1000"]' \
    '{"memory": {"limit": 50331648}}'
if start_ct hostnet; then
    wait_for 5 grep -q . $B/out
    eq "host netns: /sys/fs/cgroup/memory.max inside" 50331648 "$(rd $B/out)"
else
    not_ok "host netns: create/start with a cgroup mount" "$(cat $B/out)"
fi
cleanup hostnet

# --- cpu: shares -> weight, quota/period, cpuset
bundle cpu '["sleep", "1000"]' \
    '{"cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"}}'
if start_ct cpu; then
    d=$(cgdir cpu)
    # runc 1.1 / crun 1.8: weight = 1 + (shares - 2) * 9999 / 262142
    eq "cpu: cpu.weight from shares 512" 20 "$(rd $d/cpu.weight)"
    eq "cpu: cpu.max" "50000 100000" "$(rd $d/cpu.max)"
    eq "cpu: cpuset.cpus" 0 "$(rd $d/cpuset.cpus)"
    eq "cpu: cpuset.mems" 0 "$(rd $d/cpuset.mems)"
else
    not_ok "cpu: create/start" "$(cat $B/out)"
fi
cleanup cpu

# --- zeros as dockerd 20.10 sends them for a container without limits:
# unset, as runc and crun take them (cpu.weight and io.weight refuse 0).
bundle zeros '["sleep", "1000"]' \
    '{"cpu": {"shares": 0}, "blockIO": {"weight": 0}, "memory": {"disableOOMKiller": false}}'
if start_ct zeros; then
    d=$(cgdir zeros)
    eq "docker's zeros: cpu.weight stays at its default" 100 "$(rd $d/cpu.weight)"
    eq "docker's zeros: memory.max stays max" max "$(rd $d/memory.max)"
else
    not_ok "docker's zeros (shares 0, blkio weight 0): create/start" "$(cat $B/out)"
fi
cleanup zeros

# --- pids: limit written, and a fork loop stopped by it. The inner shell
# forks until refused (ash then exits): with itself and the outer shell in
# the cgroup, 3 of its 12 sleeps fit under the limit of 5.
bundle pids '["sh", "-c", "sh -c \"for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 1000 & done\" 2>/dev/null; echo forked; exec sleep 1000"]' \
    '{"pids": {"limit": 5}}'
if start_ct pids; then
    d=$(cgdir pids)
    eq "pids: pids.max" 5 "$(rd $d/pids.max)"
    wait_for 5 grep -q forked $B/out
    eq "pids: 12 forks under limit 5: 3 sleeps and the init remain" 4 "$(rd $d/pids.current)"
    true_ "pids: pids.events counts the refused forks" sh -c "grep -q '^max [1-9]' $d/pids.events"
else
    not_ok "pids: create/start" "$(cat $B/out)"
fi
cleanup pids

# --- io: weight and throttles on a real block device
if [ -b /dev/loop0 ]; then
    mm=$(cat /sys/block/loop0/dev)
    maj=${mm%:*} min=${mm#*:}
    bundle io '["sleep", "1000"]' \
        "{\"blockIO\": {\"weight\": 300, \"throttleReadBpsDevice\": [{\"major\": $maj, \"minor\": $min, \"rate\": 1048576}], \"throttleWriteIOPSDevice\": [{\"major\": $maj, \"minor\": $min, \"rate\": 300}]}}"
    if start_ct io; then
        d=$(cgdir io)
        eq "io: io.max throttles" "$maj:$min rbps=1048576 wbps=max riops=max wiops=300" "$(rd $d/io.max)"
        if [ -e $d/io.bfq.weight ]; then
            eq "io: io.bfq.weight (blkio weight as is)" "default 300" "$(rd $d/io.bfq.weight | head -1)"
        else
            # runc/crun without BFQ: io.weight = 1 + (weight - 10) * 9999 / 990
            eq "io: io.weight converted from blkio weight 300" "default 2930" "$(rd $d/io.weight)"
        fi
    else
        not_ok "io: create/start" "$(cat $B/out)"
    fi
    cleanup io
else
    skip "io: io.max throttles" "no loop device"
fi

# --- hugetlb
bundle huge '["sleep", "1000"]' '{"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}'
if [ ! -e $CG/hugetlb.2MB.max ] && ! grep -qw hugetlb $CG/cgroup.controllers; then
    skip "hugetlb: hugetlb.2MB.max" "no hugetlb controller"
elif start_ct huge; then
    eq "hugetlb: hugetlb.2MB.max" 4194304 "$(rd $(cgdir huge)/hugetlb.2MB.max)"
else
    not_ok "hugetlb: create/start" "$(cat $B/out)"
fi
cleanup huge

# --- unified map, and a bad key refused with nothing left behind
bundle uni '["sleep", "1000"]' '{"unified": {"memory.high": "104857600", "pids.max": "17"}}'
if start_ct uni; then
    eq "unified: memory.high" 104857600 "$(rd $(cgdir uni)/memory.high)"
    eq "unified: pids.max" 17 "$(rd $(cgdir uni)/pids.max)"
else
    not_ok "unified: create/start" "$(cat $B/out)"
fi
cleanup uni
bundle unibad '["sleep", "1000"]' '{"unified": {"../cgroup.procs": "1"}}'
if rt create --bundle $B unibad </dev/null >$B/out 2>&1; then
    not_ok "unified: a key with a slash is refused" "create succeeded"
    cleanup unibad
else
    eq "unified: a key with a slash is refused, one error line" 1 "$(grep -c . $B/out)"
    true_ "unified: the refused container leaves no cgroup" test ! -e "$(cgdir unibad)"
    true_ "unified: the refused container leaves no state" no_state unibad
fi

# --- nested absolute path and relative path (below our own cgroup, the root)
bundle nest '["sleep", "1000"]' '{"memory": {"limit": 41943040}}' "" /v2vm/a/b/c
if start_ct nest; then
    eq "nested path: memory.max in /v2vm/a/b/c" 41943040 "$(rd $CG/v2vm/a/b/c/memory.max)"
    true_ "nested path: ancestors delegate memory" grep -qw memory $CG/v2vm/a/b/cgroup.subtree_control
else
    not_ok "nested path: create/start" "$(cat $B/out)"
fi
cleanup nest
true_ "nested path: delete removes the leaf cgroup" test ! -e $CG/v2vm/a/b/c
bundle rel '["sleep", "1000"]' '{"pids": {"limit": 9}}' "" v2vm-rel/x
if start_ct rel; then
    eq "relative path: pids.max in /v2vm-rel/x" 9 "$(rd $CG/v2vm-rel/x/pids.max)"
else
    not_ok "relative path: create/start" "$(cat $B/out)"
fi
cleanup rel

# --- pause/resume through cgroup.freeze
bundle frz '["sh", "-c", "sleep 1000 & sleep 1000"]'
if start_ct frz; then
    d=$(cgdir frz)
    rt pause frz
    eq "pause: cgroup.freeze" 1 "$(rd $d/cgroup.freeze)"
    true_ "pause: cgroup.events says frozen" grep -qx "frozen 1" $d/cgroup.events
    eq "pause: state is paused" paused "$(status frz)"
    rt resume frz
    eq "resume: cgroup.freeze" 0 "$(rd $d/cgroup.freeze)"
    true_ "resume: cgroup.events says thawed" grep -qx "frozen 0" $d/cgroup.events
    eq "resume: state is running" running "$(status frz)"
else
    not_ok "freeze: create/start" "$(cat $B/out)"
fi
cleanup frz

# --- kill --all: KILL (cgroup.kill) and TERM (freeze, signal, thaw)
bundle kil '["sh", "-c", "sleep 1000 & sleep 1000 & sleep 1000 & echo up; wait"]'
if start_ct kil; then
    d=$(cgdir kil)
    wait_for 5 grep -q up $B/out
    eq "kill --all: 4 processes before" 4 "$(grep -c . $d/cgroup.procs)"
    rt kill --all kil KILL
    true_ "kill --all KILL: no process left in the cgroup" wait_for 5 sh -c "[ -z \"\$(cat $d/cgroup.procs)\" ]"
    true_ "kill --all KILL: the container is stopped" wait_status kil stopped
    rt delete kil
    true_ "delete after kill --all removes the cgroup" test ! -e $d
fi
cleanup kil
bundle term '["sh", "-c", "trap \"exit 0\" TERM; sleep 1000 & sleep 1000 & echo up; wait"]'
if start_ct term; then
    d=$(cgdir term)
    wait_for 5 grep -q up $B/out
    rt kill --all term TERM
    true_ "kill --all TERM: no process left in the cgroup" wait_for 5 sh -c "[ -z \"\$(cat $d/cgroup.procs)\" ]"
    eq "kill --all TERM: the cgroup is thawed again" 0 "$(rd $d/cgroup.freeze)"
else
    not_ok "kill --all TERM: create/start" "$(cat $B/out)"
fi
cleanup term

# --- delete --force of a running container with many processes
bundle force '["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 1000 & done; echo up; wait"]'
if start_ct force; then
    wait_for 5 grep -q up $B/out
    rt delete --force force
    true_ "delete --force: the cgroup is gone" test ! -e "$(cgdir force)"
    eq "delete --force: no sleep left" 0 "$(ps | grep -c '[s]leep 1000')"
else
    not_ok "delete --force: create/start" "$(cat $B/out)"
fi
cleanup force

# --- update on a live container
bundle upd '["sleep", "1000"]' '{"memory": {"limit": 67108864}, "pids": {"limit": 37}, "cpu": {"shares": 512}}'
if start_ct upd; then
    d=$(cgdir upd)
    rt update --memory 100m --memory-swap 200m --pids-limit 50 --cpu-quota 20000 --cpu-period 100000 --cpu-shares 1024 upd
    eq "update --memory: memory.max" 104857600 "$(rd $d/memory.max)"
    eq "update --memory-swap: memory.swap.max" 104857600 "$(rd $d/memory.swap.max)"
    eq "update --pids-limit: pids.max" 50 "$(rd $d/pids.max)"
    eq "update --cpu-quota/--cpu-period: cpu.max" "20000 100000" "$(rd $d/cpu.max)"
    eq "update --cpu-shares 1024: cpu.weight" 39 "$(rd $d/cpu.weight)"
    echo '{"memory": {"limit": 83886080}, "pids": {"limit": 60}}' >$B/res.json
    rt update -r $B/res.json upd
    eq "update -r: memory.max" 83886080 "$(rd $d/memory.max)"
    eq "update -r: pids.max" 60 "$(rd $d/pids.max)"
    eq "update: the container still runs" running "$(status upd)"
else
    not_ok "update: create/start" "$(cat $B/out)"
fi
cleanup upd

# --- events --stats reports real usage
bundle sts '["sh", "-c", "sleep 1000 & dd if=/dev/zero of=/dev/shm/fill bs=1M count=16 2>/dev/null; echo filled; wait"]' \
    '{"memory": {"limit": 134217728}, "pids": {"limit": 20}}'
if start_ct sts; then
    wait_for 10 grep -q filled $B/out
    s=$(rt events --stats sts)
    echo "# $s"
    mem=$(echo "$s" | grep -o '"memory":{.*' | grep -o '"usage":{[^}]*}' | grep -o '"usage":[0-9]*' | grep -o '[0-9]*$')
    true_ "events --stats: memory usage >= 16 MiB ($mem)" test "${mem:-0}" -ge 16777216
    true_ "events --stats: memory limit" sh -c "echo '$s' | grep -q '\"limit\":134217728'"
    pc=$(stat_field "$s" '"current":')
    eq "events --stats: pids.current" 2 "$pc"
    cpu=$(echo "$s" | grep -o '"cpu":{.*' | grep -o '"total":[0-9]*' | head -1 | grep -o '[0-9]*$')
    true_ "events --stats: cpu usage > 0 ($cpu)" test "${cpu:-0}" -gt 0
else
    not_ok "events --stats: create/start" "$(cat $B/out)"
fi
cleanup sts

# --- an OOM kill under a small limit, reported as such
bundle oom '["sh", "-c", "(x=aaaaaaaaaaaaaaaa; while :; do x=$x$x; done); echo child-died; sleep 1000"]' \
    '{"memory": {"limit": 33554432, "swap": 33554432}}'
if start_ct oom; then
    d=$(cgdir oom)
    wait_for 20 grep -q child-died $B/out
    true_ "oom: memory.events counts an oom_kill" sh -c "grep -q '^oom_kill [1-9]' $d/memory.events"
    s=$(rt events --stats oom)
    true_ "oom: events --stats reports oom_kill" sh -c "echo '$s' | grep -q '\"oom_kill\":[1-9]'"
    eq "oom: the container's init survives its child's OOM kill" running "$(status oom)"
    [ "$(rd $d/memory.events)" = "" ] || echo "# memory.events: $(rd $d/memory.events)"
else
    not_ok "oom: create/start" "$(cat $B/out)"
fi
cleanup oom

# --- devices on v2: an eBPF program attached to the cgroup
kmsg='"devices": [{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 438}]'
bundle devdeny '["sh", "-c", "echo v2vm >/dev/kmsg && echo kmsg-ok; echo x >/dev/null && echo null-ok; sleep 1000"]' \
    '{"devices": [{"allow": false, "access": "rwm"}]}' "$kmsg"
if start_ct devdeny; then
    wait_for 5 grep -q null-ok $B/out
    true_ "devices: deny-all blocks /dev/kmsg" sh -c "! grep -q kmsg-ok $B/out"
    true_ "devices: deny-all keeps the default /dev/null" grep -q null-ok $B/out
    grep -q kmsg-ok $B/out || echo "# $(grep -v null-ok $B/out)"
else
    not_ok "devices: create/start" "$(cat $B/out)"
fi
cleanup devdeny
bundle devallow '["sh", "-c", "echo v2vm >/dev/kmsg && echo kmsg-ok; sleep 1000"]' \
    '{"devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"}]}' "$kmsg"
if start_ct devallow; then
    wait_for 5 grep -q kmsg-ok $B/out
    true_ "devices: an allow rule lets /dev/kmsg be written" grep -q kmsg-ok $B/out
else
    not_ok "devices allow: create/start" "$(cat $B/out)"
fi
cleanup devallow

# --- run in the foreground, exit code, cgroup gone afterwards
bundle fg '["sh", "-c", "exit 3"]' '{"pids": {"limit": 10}}'
rt run --bundle $B fg </dev/null >$B/out 2>&1
eq "run: exit code of the container" 3 "$?"
true_ "run: the cgroup is removed when it returns" test ! -e "$(cgdir fg)"

for c in $CG/v2vm/a/b $CG/v2vm/a $CG/v2vm $CG/v2vm-rel; do rmdir $c 2>/dev/null; done
echo "$passed passed, $failed failed, $skipped skipped"
