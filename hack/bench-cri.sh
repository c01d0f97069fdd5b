#!/usr/bin/env bash
# The CRI's speed and the shims' idle memory, handler by handler, side by side
# under one private containerd (hack/lib/cri.sh: the same CRI plugin, CNI
# bridge, registry and images as hack/cri-test.sh), measured by
# `berth-cri-test bench`, which prints a markdown table:
#
#   - RunPodSandbox + CreateContainer + StartContainer of busybox (sleep):
#     median, min and max over ROUNDS rounds, the rounds alternating between
#     handlers
#   - BURST pods started at once over the one gRPC channel: failures, pods/s
#   - the idle RSS and PSS of the containerd-shim-* processes per pod of 1
#     container, per pod of 3, and per extra container
#
# with each figure's ratio to the `runc` handler (containerd-shim-runc-v2 with
# runc). Every batch is torn down (StopPodSandbox, RemovePodSandbox) and
# checked gone before the next. Not part of hack/test.
#
#   hack/bench-cri.sh BIN_DIR [HANDLER...]    default: runc berth-runc, and
#                                              berth when BIN_DIR holds
#                                              containerd-shim-berth-v2
#
# BIN_DIR holds berth-runtime, berth-cri-test and maybe
# containerd-shim-berth-v2; build them with --release for figures worth
# quoting. ROUNDS (10), BURST (50), BURST_ROUNDS (1), MEM_PODS (10) and
# SETTLE (seconds before reading memory, 5) come from the environment.
set -uo pipefail

if [ $# -lt 1 ] || [ ! -x "$1/berth-runtime" ] || [ ! -x "$1/berth-cri-test" ]; then
    echo "usage: $0 BIN_DIR [HANDLER...] (BIN_DIR with berth-runtime and berth-cri-test)" >&2
    exit 2
fi
BIN=$(readlink -f "$1")
shift
HANDLERS=("$@")
RT=$BIN/berth-runtime
CLIENT=$BIN/berth-cri-test
. "$(dirname "$0")/lib/cri.sh"
if [ ${#HANDLERS[@]} = 0 ]; then
    HANDLERS=(runc berth-runc)
    have_berth_shim && HANDLERS+=(berth)
fi
for h in "${HANDLERS[@]}"; do
    case $h in
    runc | berth-runc) ;;
    berth) have_berth_shim || { echo "no containerd-shim-berth-v2 in $BIN for handler berth" >&2; exit 2; } ;;
    *) echo "unknown handler $h (runc, berth-runc, berth)" >&2; exit 2 ;;
    esac
done
cri_init berth-bench-cri

echo "# workdir: $W, bridge $BR on $SUBNET.0/24"
check "images: pause and busybox made here, pushed to a local docker-registry" make_images
check "containerd: a private one with the CRI plugin and handlers $(configured_handlers)" start_containerd
[ "$failed" = 0 ] || exit 1

roots=()
for h in "${HANDLERS[@]}"; do roots+=(--handler-root "$h=$W/root-$h"); done
(
    IFS=,
    echo "# $(date -u '+%F %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# containerd $(containerd --version | awk '{ print $3 }'), runc $(runc --version | awk 'NR == 1 { print $3 }'), handlers ${HANDLERS[*]}"
)
mkdir -p "$W/bench"
run_client 1800 bench --endpoint "$SOCK" --handlers "$(IFS=,; echo "${HANDLERS[*]}")" \
    --image "127.0.0.1:$REGISTRY_PORT/berth-cri/busybox:1" --work "$W/bench" --tag "$TAG" \
    --cgroup-parent "$CGP" "${roots[@]}" --rounds "${ROUNDS:-10}" --burst "${BURST:-50}" \
    --burst-rounds "${BURST_ROUNDS:-1}" --mem-pods "${MEM_PODS:-10}" --settle "${SETTLE:-5}"
rc=$?
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $rc
