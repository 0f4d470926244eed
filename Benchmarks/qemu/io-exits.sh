#!/bin/sh
# QEMU comparison point for the exit-rate floor (Benchmarks/floor/run.sh): runs the io-exits guest under QEMU
# microvm with count=1 (start-up + boot only) and count=COUNT, best of REPEAT runs each, and reports
#   exits/s          = (COUNT - 1) / (wall(COUNT) - wall(1))
#   cpu-time exits/s = (COUNT - 1) / (cpu(COUNT) - cpu(1))     cpu = user + system time of the QEMU process
# The differences cancel QEMU's start-up and the guest boot; the CPU-time figure is robust against other jobs
# competing for the two cores.  PIO uses port 0x520 because QEMU's fw_cfg owns 0x510-0x51b; MMIO uses
# 0xd0000104 (unassigned in QEMU, so every write still exits to QEMU's userspace).
#   Benchmarks/qemu/io-exits.sh [COUNT] [REPEAT]   (defaults 300000, 3)
set -e
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
count=${1:-300000}
repeat=${2:-3}
out=$here/build
make -s -C "$root/Tests/Guests" OUT="$out/guests"

# prints "<best wall s> <best cpu s>" of $repeat runs of the guest with cmdline $1
best() {
    bw="" bc=""
    i=0
    while [ $i -lt "$repeat" ]; do
        /usr/bin/time -f "%e %U %S" -o "$out/time.txt" \
            qemu-system-x86_64 -M microvm -accel kvm -cpu host,-arch-capabilities -m 64 -nodefaults \
            -serial stdio -display none -no-reboot -device isa-debug-exit,iobase=0x501,iosize=2 \
            -kernel "$out/guests/io-exits.elf" -append "$1" >/dev/null || [ $? -eq 1 ]
        read -r w u s <<EOT
$(tail -n 1 "$out/time.txt")
EOT
        c=$(echo "$u + $s" | bc -l)
        if [ -z "$bw" ] || [ "$(echo "$w < $bw" | bc -l)" -eq 1 ]; then bw=$w; fi
        if [ -z "$bc" ] || [ "$(echo "$c < $bc" | bc -l)" -eq 1 ]; then bc=$c; fi
        i=$((i + 1))
    done
    echo "$bw $bc"
}

for mode in pio mmio; do
    for ring in 0 3; do
        set -- $(best "mode=$mode ring=$ring port=0x520 count=1")
        w1=$1 c1=$2
        set -- $(best "mode=$mode ring=$ring port=0x520 count=$count")
        wn=$1 cn=$2
        printf 'qemu: %s ring%s exits/s = %.0f\n' "$mode" "$ring" "$(echo "($count - 1) / ($wn - $w1)" | bc -l)"
        printf 'qemu: %s ring%s cpu-time exits/s = %.0f\n' "$mode" "$ring" "$(echo "($count - 1) / ($cn - $c1)" | bc -l)"
    done
done
