#!/bin/sh
# Builds the raw C KVM floor program: Benchmarks/floor/build.sh [OUT_DIR]  (default: Benchmarks/floor/build)
set -e
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/build}
mkdir -p "$out"
${CC:-gcc} -O2 -g -Wall -Wextra -std=gnu11 -pthread -o "$out/kvm_floor" "$here/kvm_floor.c"
echo "$out/kvm_floor"
