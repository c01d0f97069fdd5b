#!/usr/bin/env bash
# Per-container network setup time: berth::network (one port published on
# 127.0.0.1) next to podman's netavark doing the same job on namespaces made
# the same way, in one run, for: our IPv4 bridge, IPv6 dual stack (berth's
# --ipv6 network and netavark's ipv6_enabled one), and berth's cni driver
# running Debian's CNI bridge + host-local + portmap. No traffic is sent.
#
#   hack/bench-net.sh [N]   (default N=30; root, podman's netavark, nft; BENCH_PROFILE=dev to skip the release build)
#
# Every side: N namespaces made before timing; the first setup of each also
# creates the bridge and is reported apart; then N teardowns.
set -euo pipefail
N=${1:-30}
cd "$(dirname "$0")/.."
NETAVARK=${NETAVARK:-/usr/lib/podman/netavark}
if [ ! -x "$NETAVARK" ]; then
    # Debian's podman 4.3 runs on CNI unless netavark is installed, and
    # installing it would switch podman's backend for everyone here: unpack
    # the package into a dir of ours instead.
    nv=$(mktemp -d /tmp/bench-netavark.XXXXXX)
    trap 'rm -rf "$nv"' EXIT
    (cd "$nv" && apt-get download netavark >/dev/null 2>&1 && dpkg -x netavark_*.deb root) ||
        { echo "hack/bench-net.sh: cannot fetch netavark (apt-get download netavark)" >&2; exit 2; }
    NETAVARK=$nv/root/usr/lib/podman/netavark
fi
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target-bench-net}

results=$(mktemp /tmp/bench-net-results.XXXXXX)
work=$(mktemp -d /tmp/bench-net.XXXXXX)
pids=()
cleanup() {
    rm -f "$results"
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for ((i = 0; i < N; i++)); do
        [ -f "$work/c$i.json" ] && "$NETAVARK" --config "$work/cfg" -f "$work/c$i.json" \
            teardown "/proc/${pids[$i]:-0}/ns/net" >/dev/null 2>&1 || true
    done
    ip link del btnvbench0 2>/dev/null || true
    rm -rf "$work" "${nv:-}"
}
trap cleanup EXIT
for mode in v4 v6 cni; do
    what="berth::network: rtnetlink, nfnetlink for the ports"
    [ "$mode" = cni ] && what="berth's cni driver: Debian's CNI bridge, host-local, portmap"
    echo "== berth $mode ($what)"
    BENCH_MODE=$mode BENCH_N=$N BENCH_PORT=21000 cargo test -q -p berth --profile "${BENCH_PROFILE:-release}" \
        --test network_bench -- --ignored --nocapture 2>/dev/null | grep '^berth' | tee -a "$results"
done

mkdir -p "$work/cfg"
netavark_run() {
local mode=$1 subnets v6=false
subnets='{"subnet": "10.237.0.0/24", "gateway": "10.237.0.1"}'
if [ "$mode" = v6 ]; then
    v6=true
    subnets="$subnets, {\"subnet\": \"fd42:b3e7:237::/64\", \"gateway\": \"fd42:b3e7:237::1\"}"
fi
ip6() { [ "$v6" = true ] && printf ', "fd42:b3e7:237::%x"' $(($1 + 2)); return 0; }
echo "== podman netavark $mode $($NETAVARK --version | awk '{print $2}') (iptables-nft)"
pids=()
for ((i = 0; i < N; i++)); do
    unshare -n sleep 600 &
    pids+=($!)
done
sleep 0.5
ms() { echo "scale=2; ($2 - $1) / 1000000" | bc; }
local setup=() teardown=()
for ((i = 0; i < N; i++)); do
    cat >"$work/c$i.json" <<JSON
{"container_id": "benchnv$i", "container_name": "nv$i",
 "port_mappings": [{"host_ip": "127.0.0.1", "container_port": 80, "host_port": $((22000 + i)), "range": 1, "protocol": "tcp"}],
 "networks": {"berthbench": {"static_ips": ["10.237.0.$((i + 2))"$(ip6 $i)], "interface_name": "eth0"}},
 "network_info": {"berthbench": {"name": "berthbench", "id": "$(printf 'b%.0s' {1..64})",
   "driver": "bridge", "network_interface": "btnvbench0",
   "subnets": [$subnets],
   "ipv6_enabled": $v6, "internal": false, "dns_enabled": false,
   "ipam_options": {"driver": "host-local"}}}}
JSON
    t0=$(date +%s%N)
    "$NETAVARK" --config "$work/cfg" -f "$work/c$i.json" setup "/proc/${pids[$i]}/ns/net" >/dev/null
    t1=$(date +%s%N)
    setup+=("$(ms "$t0" "$t1")")
done
for ((i = 0; i < N; i++)); do
    t0=$(date +%s%N)
    "$NETAVARK" --config "$work/cfg" -f "$work/c$i.json" teardown "/proc/${pids[$i]}/ns/net" >/dev/null
    t1=$(date +%s%N)
    teardown+=("$(ms "$t0" "$t1")")
    rm -f "$work/c$i.json"
done
summary() {
    local name=$1; shift
    printf '%s\n' "$@" | sort -n | awk -v name="$name" -v mode="$mode" '
        { v[NR] = $1; s += $1 }
        END { printf "netavark " mode " %s: n=%d mean=%.2fms median=%.2fms min=%.2fms max=%.2fms\n",
              name, NR, s / NR, v[int((NR + 1) / 2)], v[1], v[NR] }'
}
echo "netavark $mode first setup (creates bridge + rules): ${setup[0]}ms" | tee -a "$results"
summary setup "${setup[@]:1}" | tee -a "$results"
summary teardown "${teardown[@]}" | tee -a "$results"
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()
ip link del btnvbench0 2>/dev/null || true
}
netavark_run v4
netavark_run v6

echo
echo "== side by side (median ms; first = the setup that also makes the bridge)"
printf '%-22s %10s %10s %10s\n' "" first setup teardown
med() { grep -E "^$1 setup|^$1 teardown" "$results" | grep "$2:" | sed -E 's/.*median=([0-9.]+)ms.*/\1/'; }
first() { grep -E "^$1 first setup" "$results" | sed -E 's/.*: ([0-9.]+)ms/\1/'; }
for who in "berth v4" "netavark v4" "berth v6" "netavark v6" "berth cni"; do
    printf '%-22s %10s %10s %10s\n' "$who" "$(first "$who")" "$(med "$who" setup)" "$(med "$who" teardown)"
done
