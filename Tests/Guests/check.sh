#!/bin/sh
# Boots every test guest under kvm_floor and under QEMU microvm and checks its output and exit status.
#   Tests/Guests/check.sh [OUT_DIR]   (default Tests/Guests/build)
# Prints one line per run (ok/FAIL) and exits 1 if any run did not behave as documented in README.md.
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$here/build}
make -s -C "$here" OUT="$out" || exit 1
"$root/Benchmarks/floor/build.sh" "$out" >/dev/null || exit 1
floor=$out/kvm_floor
failures=0

# run NAME WANT_STATUS WANT_TEXT COMMAND... : runs COMMAND (10 s limit), checks status and that stdout+stderr
# contains WANT_TEXT (empty: no output check)
run() {
    name=$1 want_status=$2 want_text=$3
    shift 3
    text=$(timeout 10 "$@" 2>&1)
    status=$?
    if [ "$status" -eq "$want_status" ] && { [ -z "$want_text" ] || printf '%s\n' "$text" | grep -qF -- "$want_text"; }; then
        echo "ok    $name (status $status)"
    else
        echo "FAIL  $name: status $status (want $want_status), output:"
        printf '%s\n' "$text" | sed 's/^/      /'
        failures=$((failures + 1))
    fi
}

qemu="qemu-system-x86_64 -M microvm -accel kvm -cpu host,-arch-capabilities -m 64 -nodefaults -serial stdio \
      -display none -no-reboot -device isa-debug-exit,iobase=0x501,iosize=2"

g=$out
run "floor hello" 33 "hello: VMHost PVH test guest reached ring 3" "$floor" "$g/hello.elf"
run "floor io-exits pio ring3" 1 "floor: pio ring3 exits/s" "$floor" --cmdline "mode=pio count=20000" "$g/io-exits.elf"
run "floor io-exits pio ring0" 1 "floor: pio ring0 exits/s" "$floor" --cmdline "mode=pio ring=0 count=20000" "$g/io-exits.elf"
run "floor io-exits mmio ring3" 1 "floor: mmio ring3 exits/s" "$floor" --cmdline "mode=mmio count=20000" "$g/io-exits.elf"
run "floor io-exits mmio ring0" 1 "floor: mmio ring0 exits/s" "$floor" --cmdline "mode=mmio ring=0 count=20000" "$g/io-exits.elf"
run "floor io-exits ioeventfd" 1 "floor: pio ring3 ioeventfd exits/s" "$floor" --ioeventfd --cmdline "count=20000" "$g/io-exits.elf"
run "floor smp-counter 1" 0 "magic=0x474d4856 ring3=1" "$floor" --seconds 0.5 "$g/smp-counter.elf"
run "floor smp-counter 3" 0 "magic=0x474d4856 ring3=3" "$floor" --cpus 3 --seconds 1 --cmdline "cpus=3" "$g/smp-counter.elf"
run "floor device-io" 1 "device-io: PASS" "$floor" "$g/device-io.elf"
run "floor irq" 1 "irq: PASS" "$floor" "$g/irq.elf"
run "floor triple-fault" 3 "floor: vcpu0 shutdown (triple fault)" "$floor" "$g/triple-fault.elf"

run "qemu hello" 33 "hello: VMHost PVH test guest reached ring 3" $qemu -kernel "$g/hello.elf"
run "qemu io-exits pio ring3" 1 "" $qemu -kernel "$g/io-exits.elf" -append "mode=pio port=0x520 count=20000"
run "qemu io-exits mmio ring0" 1 "" $qemu -kernel "$g/io-exits.elf" -append "mode=mmio ring=0 count=20000"
# smp-counter never exits: timeout (status 124) after the heartbeat lines appeared
run "qemu smp-counter 2" 124 "smp-counter: 2 cpus in ring 3" timeout 3 $qemu -smp 2 -kernel "$g/smp-counter.elf" \
    -append "cpus=2 heartbeat=256"
run "qemu device-io (no Scratchpad)" 3 "device-io: FAIL latch32" $qemu -kernel "$g/device-io.elf"
run "qemu irq via COM1" 1 "irq: PASS" $qemu -kernel "$g/irq.elf" -append "source=serial irq=4"
run "qemu triple-fault" 0 "triple-fault: loading an empty IDT" $qemu -kernel "$g/triple-fault.elf"
run "qemu uart" 1 "uart: PASS" $qemu -kernel "$g/uart.elf"
# QEMU's modern virtio-mmio; microvm puts the first device on its last transport (0xfeb02e00, IRQ 12).
disk=$(mktemp) && truncate -s 16M "$disk"
run "qemu virtio-blk" 1 "virtio-blk: PASS requests=1025 bytes=4194304" $qemu -global virtio-mmio.force-legacy=false \
    -drive id=d0,file="$disk",format=raw,if=none -device virtio-blk-device,drive=d0 -kernel "$g/virtio-blk.elf" \
    -append "virtio_mmio.device=512@0xfeb02e00:12 blocks=512"
rm -f "$disk"

[ "$failures" -eq 0 ] && echo "all guest checks passed" && exit 0
echo "$failures guest check(s) failed"
exit 1
