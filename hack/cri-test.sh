#!/usr/bin/env bash
# berth under Kubernetes' CRI path: a private containerd with its CRI plugin,
# driven by berth-cri-test (cri-test/, a CRI client over containerd's gRPC
# socket, as the kubelet drives it) once per runtime handler:
#
#   runc    io.containerd.runc.v2 with Debian's runc: the reference, so the
#           checks test the CRI's behaviour, not ours
#   berth-runc  io.containerd.runc.v2 (containerd's runc shim) with
#           BinaryName = berth-runtime
#   berth   io.containerd.berth.v2: our containerd-shim-berth-v2 with
#           berth-runtime, when BIN_DIR holds the shim (else skipped)
#
#   hack/cri-test.sh BIN_DIR [HANDLER...]     (BIN_DIR holds berth-runtime and
#                                              berth-cri-test, maybe
#                                              containerd-shim-berth-v2;
#                                              default: runc berth-runc berth)
#
# Everything is the test's own and lives under one temp dir: containerd's
# root, state, sockets and config; the CNI config (bridge + host-local +
# portmap from Debian's containernetworking-plugins, containerd adds the
# loopback) on a bridge of its own with a private /24 nobody routes here; a
# docker-registry on 127.0.0.1 serving a pause image (catatonit -P) and a
# busybox image made here; pods' cgroups under a parent of its own. The EXIT
# trap takes all of it back, on failure too. Prints `N passed, N failed`
# last; exits non-zero if anything failed.
set -uo pipefail

if [ $# -lt 1 ] || [ ! -x "$1/berth-runtime" ] || [ ! -x "$1/berth-cri-test" ]; then
    echo "usage: $0 BIN_DIR [HANDLER...] (BIN_DIR with berth-runtime and berth-cri-test)" >&2
    exit 2
fi
BIN=$(readlink -f "$1")
shift
HANDLERS=("$@")
[ ${#HANDLERS[@]} -gt 0 ] || HANDLERS=(runc berth-runc berth)
RT=$BIN/berth-runtime
CLIENT=$BIN/berth-cri-test
. "$(dirname "$0")/lib/cri.sh"
cri_init berth-cri

echo "# workdir: $W, bridge $BR on $SUBNET.0/24"
check "images: pause (catatonit -P) and busybox made here, pushed to a local docker-registry" make_images
check "containerd: a private one with the CRI plugin, CNI (bridge, host-local, portmap) and handlers $(configured_handlers)" start_containerd

if [ "$failed" = 0 ]; then
    for h in "${HANDLERS[@]}"; do
        if [ "$h" = berth ] && ! have_berth_shim; then
            skipped=$((skipped + 1))
            echo "ok - berth: the CRI test with containerd-shim-berth-v2 # SKIP no containerd-shim-berth-v2 in BIN_DIR"
            continue
        fi
        echo "# handler $h"
        args=(--endpoint "$SOCK" --handler "$h" --image "127.0.0.1:$REGISTRY_PORT/berth-cri/busybox:1"
            --work "$W/h-$h" --tag "$TAG-$h" --cgroup-parent "$CGP/$h" --host-port "$(free_port)"
            --gateway "$GW" --subnet "$SUBNET." --runtime-root "$W/root-$h")
        case $h in
        runc) args+=(--runtime-type io.containerd.runc.v2 --runtime-binary "$(command -v runc)") ;;
        berth-runc) args+=(--runtime-type io.containerd.runc.v2 --runtime-binary "$RT") ;;
        berth) args+=(--runtime-type io.containerd.berth.v2) ;;
        esac
        mkdir -p "$W/h-$h"
        run_client 600 "${args[@]}" >"$W/client.log" 2>&1
        rc=$?
        grep -vE '^[0-9]+ passed, [0-9]+ failed' "$W/client.log"
        line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$W/client.log" | tail -1)
        n_failed=
        if [ -n "$line" ]; then
            read -r n_passed _ n_failed _ n_skipped _ <<<"${line//,/}"
            passed=$((passed + n_passed)) failed=$((failed + n_failed)) skipped=$((skipped + ${n_skipped:-0}))
        fi
        if [ $rc != 0 ] && [ "${n_failed:-0}" = 0 ]; then
            failed=$((failed + 1))
            echo "not ok - $h: berth-cri-test exited $rc"
        fi
    done
    check "containerd's log has no panic" sh -c "! grep -n 'panic' '$W/ctrd/log'"
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
