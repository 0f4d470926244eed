#!/bin/sh
# QEMU comparison point for the exit-rate floor: runs the io-exits guest under QEMU microvm with count=1
# (start-up + boot only) and count=COUNT, best of REPEAT wall times each, and reports
# (COUNT - 1) / (t_count - t_1), which cancels QEMU's start-up and the guest boot.
# PIO uses port 0x520 because QEMU's fw_cfg owns 0x510-0x51b; MMIO uses 0xd0000104 (unassigned in QEMU,
# so every write still exits to QEMU's userspace).  Noisy when other jobs share the two cores.
#   Benchmarks/qemu/io-exits.sh [COUNT] [REPEAT]   (defaults 300000, 3)
set -e
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
count=${1:-300000}
repeat=${2:-3}
out=$here/build
make -s -C "$root/Tests/Guests" OUT="$out/guests"

# best wall time (s) of $repeat runs of the guest with cmdline $1
best() {
    b=""
    i=0
    while [ $i -lt "$repeat" ]; do
        start=$(date +%s.%N)
        qemu-system-x86_64 -M microvm -accel kvm -cpu host,-arch-capabilities -m 64 -nodefaults -serial stdio \
            -display none -no-reboot -device isa-debug-exit,iobase=0x501,iosize=2 \
            -kernel "$out/guests/io-exits.elf" -append "$1" || [ $? -eq 1 ]
        end=$(date +%s.%N)
        t=$(echo "$end - $start" | bc -l)
        if [ -z "$b" ] || [ "$(echo "$t < $b" | bc -l)" -eq 1 ]; then b=$t; fi
        i=$((i + 1))
    done
    echo "$b"
}

for mode in pio mmio; do
    for ring in 0 3; do
        t1=$(best "mode=$mode ring=$ring port=0x520 count=1")
        tn=$(best "mode=$mode ring=$ring port=0x520 count=$count")
        rate=$(echo "($count - 1) / ($tn - $t1)" | bc -l)
        printf 'qemu: %s ring%s exits/s = %.0f\n' "$mode" "$ring" "$rate"
    done
done
