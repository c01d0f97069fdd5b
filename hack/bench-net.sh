#!/usr/bin/env bash
# Per-container network setup time: berth::network (bridge mode, one port
# published on 127.0.0.1) next to podman's netavark doing the same job on
# namespaces made the same way, in one run. No traffic is sent.
#
#   hack/bench-net.sh [N]   (default N=30; root, podman's netavark, nft; BENCH_PROFILE=dev to skip the release build)
#
# Both sides: N namespaces made before timing; the first setup of each also
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

echo "== berth (berth::network: rtnetlink, nfnetlink for the ports)"
BENCH_N=$N BENCH_PORT=21000 cargo test -q -p berth --profile "${BENCH_PROFILE:-release}" --test network_bench -- \
    --ignored --nocapture 2>/dev/null | grep '^berth'

echo "== podman netavark $($NETAVARK --version | awk '{print $2}') (iptables-nft)"
work=$(mktemp -d /tmp/bench-net.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for ((i = 0; i < N; i++)); do
        [ -f "$work/c$i.json" ] && "$NETAVARK" --config "$work/cfg" -f "$work/c$i.json" \
            teardown "/proc/${pids[$i]:-0}/ns/net" >/dev/null 2>&1 || true
    done
    ip link del btnvbench0 2>/dev/null || true
    rm -rf "$work" "${nv:-}"
}
trap cleanup EXIT
mkdir -p "$work/cfg"
for ((i = 0; i < N; i++)); do
    unshare -n sleep 600 &
    pids+=($!)
done
sleep 0.5
ms() { echo "scale=2; ($2 - $1) / 1000000" | bc; }
setup=() teardown=()
for ((i = 0; i < N; i++)); do
    cat >"$work/c$i.json" <<JSON
{"container_id": "benchnv$i", "container_name": "nv$i",
 "port_mappings": [{"host_ip": "127.0.0.1", "container_port": 80, "host_port": $((22000 + i)), "range": 1, "protocol": "tcp"}],
 "networks": {"berthbench": {"static_ips": ["10.237.0.$((i + 2))"], "interface_name": "eth0"}},
 "network_info": {"berthbench": {"name": "berthbench", "id": "$(printf 'b%.0s' {1..64})",
   "driver": "bridge", "network_interface": "btnvbench0",
   "subnets": [{"subnet": "10.237.0.0/24", "gateway": "10.237.0.1"}],
   "ipv6_enabled": false, "internal": false, "dns_enabled": false,
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
    printf '%s\n' "$@" | sort -n | awk -v name="$name" '
        { v[NR] = $1; s += $1 }
        END { printf "netavark %s: n=%d mean=%.2fms median=%.2fms min=%.2fms max=%.2fms\n",
              name, NR, s / NR, v[int((NR + 1) / 2)], v[1], v[NR] }'
}
echo "netavark first setup (creates bridge + rules): ${setup[0]}ms"
summary setup "${setup[@]:1}"
summary teardown "${teardown[@]}"
