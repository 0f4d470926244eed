#!/bin/sh
# Builds the test guests and kvm_floor, then prints the exit-rate floor for PIO/MMIO from guest ring 0 and 3,
# first with every exit answered in userspace, then with the doorbells on an ioeventfd (kernel only).
# Each run prints a wall-clock rate and a `cpu-time` rate (per second of vCPU-thread CPU time).
#   Benchmarks/floor/run.sh [COUNT]   (default 300000 doorbell exits per configuration)
set -e
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
count=${1:-300000}
out=$here/build
make -s -C "$root/Tests/Guests" OUT="$out/guests"
"$here/build.sh" "$out" >/dev/null
for fd in "" --ioeventfd; do
    for mode in pio mmio; do
        for ring in 0 3; do
            # io-exits ends with DebugExit value 0 → exit status 1
            "$out/kvm_floor" $fd --cmdline "mode=$mode ring=$ring count=$count" "$out/guests/io-exits.elf" 2>/dev/null \
                || [ $? -eq 1 ]
        done
    done
done
