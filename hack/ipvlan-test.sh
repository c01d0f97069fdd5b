#!/usr/bin/env bash
# berth's ipvlan driver for real: this machine's kernel has no ipvlan, so
# boot Debian's (which has it, as a module) under qemu/KVM from an
# initramfs holding busybox, berth, berth-shim, berth-runtime and the
# overlay, veth and ipvlan modules, and run hack/ipvlan-test.d/run there: containers on
# ipvlan l2 and l3 networks over a veth parent, reaching each other and a
# namespace standing in for another host on the LAN. The guest has no
# network to the outside (-nic none). Same kernel cache as hack/v2-vm.
# Prints the guest's TAP lines and, last, `N passed, N failed, N skipped`.
#
# usage: hack/ipvlan-test.sh [--bin-dir DIR] [--timeout SECS]
#   --bin-dir DIR   berth, berth-shim, berth-runtime from DIR (static), else
#                   target/<triple>/debug after a cargo build of the three
set -euo pipefail
cd "$(dirname "$0")/.."
HERE=$PWD/hack/ipvlan-test.d
bin_dir="" timeout_s=300
while [ $# -gt 0 ]; do
    case $1 in
    --bin-dir) bin_dir=$2; shift 2 ;;
    --timeout) timeout_s=$2; shift 2 ;;
    *) echo "hack/ipvlan-test.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "hack/ipvlan-test.sh: must run as root" >&2; exit 2; }
if [ -c /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]; then accel=(-enable-kvm); else accel=(-accel tcg,thread=multi -cpu max); fi

CACHE=${BERTH_VM_CACHE:-/var/cache/berth-vm}
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
[ -n "$kpkg" ] || { echo "hack/ipvlan-test.sh: cannot resolve linux-image-amd64 (apt-get update?)" >&2; exit 2; }
KDIR=$CACHE/$kpkg
# overlay for the containers' rootfs; veth and ipvlan for the network.
mods=(overlay veth ipvlan)
have_mods=true
for m in "${mods[@]}"; do [ -s "$KDIR/net/$m.ko" ] || have_mods=false; done
if [ ! -s "$KDIR/vmlinuz" ] || [ "$have_mods" = false ]; then
    echo "hack/ipvlan-test.sh: fetching $kpkg into $KDIR"
    mkdir -p "$KDIR"
    tmp=$(mktemp -d "$CACHE/dl.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && apt-get download "$kpkg" >/dev/null 2>&1) || { echo "hack/ipvlan-test.sh: apt-get download $kpkg failed" >&2; exit 2; }
    dpkg -x "$tmp"/*.deb "$tmp/x"
    [ -s "$KDIR/vmlinuz" ] || cp "$tmp"/x/boot/vmlinuz-* "$KDIR/vmlinuz"
    mkdir -p "$KDIR/net.new"
    for m in "${mods[@]}"; do
        ko=$(find "$tmp/x/lib/modules" -name "$m.ko*" | head -1)
        case $ko in
        *.xz) xz -dc "$ko" >"$KDIR/net.new/$m.ko" ;;
        *.zst) zstd -qdc "$ko" >"$KDIR/net.new/$m.ko" ;;
        *) cp "$ko" "$KDIR/net.new/$m.ko" ;;
        esac
    done
    rm -rf "$KDIR/net" && mv "$KDIR/net.new" "$KDIR/net"
    rm -rf "$tmp"
    trap - EXIT
fi

triple=${CARGO_BUILD_TARGET:-$(hack/triple)}
if [ -z "$bin_dir" ]; then
    CARGO_BUILD_TARGET=$triple cargo build -p berth -p berth-shim -p berth-runtime 2>&1 | tail -1
    bin_dir=${CARGO_TARGET_DIR:-target}/$triple/debug
fi

WORK=$(mktemp -d /tmp/berth-ipvlan-vm.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
# Killed (hack/test's timeout): still run the EXIT trap.
trap 'exit 143' TERM INT
R=$WORK/initrd
mkdir -p "$R"/{bin,dev,etc/v2-vm,lib/modules,proc,sys,tmp,run}
cp /bin/busybox "$R/bin/busybox"
for b in berth berth-shim berth-runtime; do
    [ -x "$bin_dir/$b" ] || { echo "hack/ipvlan-test.sh: $bin_dir/$b not found" >&2; exit 2; }
    if LC_ALL=C ldd "$bin_dir/$b" 2>&1 | grep -q '=>'; then
        echo "hack/ipvlan-test.sh: $bin_dir/$b is dynamically linked" >&2; exit 2
    fi
    strip -o "$R/bin/$b" "$bin_dir/$b"
done
for m in "${mods[@]}"; do cp "$KDIR/net/$m.ko" "$R/lib/modules/"; done
echo "${mods[*]}" >"$R/lib/modules/order"
cp hack/v2-vm.d/init "$R/init"
printf '::sysinit:/etc/v2-vm/run\n::once:/bin/busybox poweroff -f\n' >"$R/etc/inittab"
cp "$HERE/run" "$R/etc/v2-vm/run"
chmod 755 "$R/init" "$R/etc/v2-vm/run"
mknod -m 600 "$R/dev/console" c 5 1
(cd "$R" && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1 >"$WORK/initrd.gz")

echo "hack/ipvlan-test.sh: booting $kpkg ($(du -h "$WORK/initrd.gz" | cut -f1) initramfs)"
LOG=$WORK/serial.log
set +e
timeout --kill-after=10 "$timeout_s" qemu-system-x86_64 \
    "${accel[@]}" -m 1536 -smp 2 -nographic -no-reboot -nic none \
    -kernel "$KDIR/vmlinuz" -initrd "$WORK/initrd.gz" \
    -append "console=ttyS0 quiet panic=-1 cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1" \
    </dev/null 2>&1 | tr -d '\r' | sed -u 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1bc//g' | tee "$LOG" | grep -v '^v2-vm-result: '
rc=${PIPESTATUS[0]}
set -e
result=$(grep -aE '^v2-vm-result: [0-9]+ passed, [0-9]+ failed' "$LOG" | tail -1 | sed 's/^v2-vm-result: //')
if [ -z "$result" ]; then
    [ "$rc" = 124 ] && echo "hack/ipvlan-test.sh: the VM did not finish within ${timeout_s}s" || echo "hack/ipvlan-test.sh: the VM stopped without a result (qemu exit $rc)"
    echo "0 passed, 1 failed, 0 skipped"
    exit 1
fi
echo "$result"
[[ $result =~ ^[0-9]+\ passed,\ 0\ failed ]]
