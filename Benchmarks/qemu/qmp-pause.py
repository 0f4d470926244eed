#!/usr/bin/env python3
"""QEMU comparison point for `vmhost-bench api`: the same guest (smp-counter, 2 vCPUs busy in ring 3) under
QEMU microvm, paused and resumed through QMP `stop` / `cont` (request sent -> `return` received) with the
client thread scheduled normally and then SCHED_FIFO 1 (as vmhost-bench does), plus process start -> QMP socket
accepting (median of 5 starts), process start -> the `hello` guest's first serial byte, and peak RSS minus the
resident guest RAM. Then runs `vmhost-bench api --json` and prints both side by side.

    Benchmarks/qemu/qmp-pause.py [--cycles N] [--bench PATH]   (default: .build/release/vmhost-bench, else debug)
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
GUESTS = os.path.join(ROOT, ".build", "test-guests")
QEMU = ["qemu-system-x86_64", "-M", "microvm", "-accel", "kvm", "-cpu", "host,-arch-capabilities", "-m", "64",
        "-nodefaults", "-serial", "stdio", "-display", "none", "-no-reboot",
        "-device", "isa-debug-exit,iobase=0x501,iosize=2"]


def percentile(samples, p):
    s = sorted(samples)
    if not s:
        return float("nan")
    i = max(0, min(len(s) - 1, int(-(-p / 100 * len(s) // 1)) - 1))
    return s[i]


class QMP:
    """A minimal QMP client: one JSON object per line; events are skipped while waiting for a return."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.file = self.sock.makefile("rwb", buffering=0)
        self.read_message()  # greeting
        self.command("qmp_capabilities")

    def read_message(self):
        line = self.file.readline()
        if not line:
            raise RuntimeError("QMP connection closed")
        return json.loads(line)

    def command(self, name):
        self.file.write(json.dumps({"execute": name}).encode() + b"\n")
        while True:
            msg = self.read_message()
            if "return" in msg:
                return msg["return"]
            if "error" in msg:
                raise RuntimeError(f"QMP {name}: {msg['error']}")

    def close(self):
        self.sock.close()


def kib_field(pid, name):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    return None


def guest_resident_kib(pid, guest_mib):
    in_guest = False
    found = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if line.startswith("Size:"):
                in_guest = int(line.split()[1]) == guest_mib * 1024
            elif in_guest and line.startswith("Rss:"):
                found = (found or 0) + int(line.split()[1])
                in_guest = False
    return found


def start_qemu(qmp_path, poll=0.00002):
    """Starts QEMU serving QMP on qmp_path; returns (process, ms from spawn to the socket accepting), trying to
    connect every `poll` seconds (a real-time client polls less often, so as not to take a core from QEMU)."""
    cmd = QEMU + ["-smp", "2", "-kernel", os.path.join(GUESTS, "smp-counter.elf"), "-append", "cpus=2",
                  "-qmp", f"unix:{qmp_path},server=on,wait=off"]
    t0 = time.monotonic()
    # QEMU starts SCHED_OTHER even when this client runs SCHED_FIFO (the real-time socket-ready phase).
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=lambda: os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0)))
    ready = None
    for _ in range(200000):
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(qmp_path)
            s.close()
            ready = time.monotonic()
            break
        except OSError:
            time.sleep(poll)
    return proc, (ready - t0) * 1000 if ready else float("nan")


def stop_qemu(proc, qmp_path):
    """Kills a QEMU started by start_qemu and removes its socket."""
    proc.kill()
    proc.wait()
    try:
        os.unlink(qmp_path)
    except OSError:
        pass


def timed_cycles(qmp, cycles, warmup, realtime):
    """Pause/resume round trips in us, the client thread SCHED_FIFO 1 if realtime (None if not permitted)."""
    if realtime:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
        except PermissionError:
            return None
    try:
        pauses, resumes = [], []
        for cycle in range(warmup + cycles):
            a = time.monotonic()
            qmp.command("stop")
            b = time.monotonic()
            time.sleep(0.0002)
            c = time.monotonic()
            qmp.command("cont")
            d = time.monotonic()
            time.sleep(0.001)
            if cycle >= warmup:
                pauses.append((b - a) * 1e6)
                resumes.append((d - c) * 1e6)
        return pauses, resumes
    finally:
        if realtime:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


def qemu_pause(cycles, warmup, starts=5):
    tmp = tempfile.mkdtemp(prefix="vmhost-qmp-")
    qmp_path = os.path.join(tmp, "qmp.sock")
    ready = []
    for _ in range(starts - 1):
        proc, ms = start_qemu(qmp_path)
        ready.append(ms)
        stop_qemu(proc, qmp_path)
    # The same with this client SCHED_FIFO 1 (as vmhost-bench does), when allowed.
    ready_rt = []
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
        try:
            for _ in range(starts):
                rt_proc, ms = start_qemu(qmp_path, poll=0.0001)
                ready_rt.append(ms)
                stop_qemu(rt_proc, qmp_path)
        finally:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    except PermissionError:
        pass
    ready_rt = [ms for ms in ready_rt if ms == ms]
    rt_median = statistics.median(ready_rt) if ready_rt else None
    proc, ms = start_qemu(qmp_path)
    ready.append(ms)
    ready = [ms for ms in ready if ms == ms]  # a start that never became ready is NaN
    result = {"socket_ready_ms": statistics.median(ready) if ready else float("nan")}
    if rt_median is not None:
        result["socket_ready_rt_ms"] = rt_median
    try:
        qmp = QMP(qmp_path)
        time.sleep(0.2)  # both vCPUs counting in ring 3
        for suffix, realtime in (("", False), ("_rt", True)):
            measured = timed_cycles(qmp, cycles, warmup, realtime)
            if measured is None:
                continue
            pauses, resumes = measured
            result.update({
                f"pause_median{suffix}_us": statistics.median(pauses), f"pause_p99{suffix}_us": percentile(pauses, 99),
                f"resume_median{suffix}_us": statistics.median(resumes),
                f"resume_p99{suffix}_us": percentile(resumes, 99),
            })
        hwm = kib_field(proc.pid, "VmHWM")
        guest = guest_resident_kib(proc.pid, 64) or 0
        result["overhead_kib"] = hwm - guest if hwm else float("nan")
        qmp.command("quit")
        qmp.close()
    finally:
        proc.kill()
        proc.wait()
        try:
            os.unlink(qmp_path)
            os.rmdir(tmp)
        except OSError:
            pass
    return result


def qemu_first_serial_byte(runs=5):
    samples = []
    for _ in range(runs):
        t0 = time.monotonic()
        proc = subprocess.Popen(QEMU + ["-kernel", os.path.join(GUESTS, "hello.elf")], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        first = proc.stdout.read(1)
        t1 = time.monotonic()
        proc.stdout.read()
        proc.wait()
        if first:
            samples.append((t1 - t0) * 1000)
    return statistics.median(samples) if samples else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--bench", default=None, help="vmhost-bench executable")
    args = parser.parse_args()
    subprocess.run(["make", "-s", "-C", os.path.join(ROOT, "Tests", "Guests"), f"OUT={GUESTS}"], check=True)

    bench = args.bench
    if bench is None:
        for config in ("release", "debug"):
            candidate = os.path.join(ROOT, ".build", config, "vmhost-bench")
            if os.path.exists(candidate):
                bench = candidate
                break
    vmhost = {}
    if bench:
        out = subprocess.run([bench, "api", "--cycles", str(args.cycles), "--json"], capture_output=True, text=True)
        sys.stdout.write(out.stdout)
        for line in out.stdout.splitlines():
            if line.startswith("{"):
                vmhost = json.loads(line)
    else:
        print("vmhost-bench not found (swift build -c release --product vmhost-bench); QEMU only")

    qemu = qemu_pause(args.cycles, args.warmup)
    qemu["first_serial_byte_ms"] = qemu_first_serial_byte()

    rows = [("pause median (us)", "pause_median_us"), ("pause p99 (us)", "pause_p99_us"),
            ("resume median (us)", "resume_median_us"), ("resume p99 (us)", "resume_p99_us"),
            ("pause median, RT client (us)", "pause_median_rt_us"), ("pause p99, RT client (us)", "pause_p99_rt_us"),
            ("resume median, RT client (us)", "resume_median_rt_us"),
            ("resume p99, RT client (us)", "resume_p99_rt_us"),
            ("start -> control socket, median (ms)", "socket_ready_ms"),
            ("  same, RT client (ms)", "socket_ready_rt_ms"),
            ("start -> first serial byte (ms)", "first_serial_byte_ms"),
            ("peak RSS - guest RAM (KiB)", "overhead_kib")]
    print(f"\n{args.cycles} pause/resume cycles, smp-counter with 2 busy vCPUs; VMHost API vs QEMU QMP stop/cont")
    print(f"{'':38}{'vmhost':>12}{'qemu':>12}{'qemu/vmhost':>13}")
    for label, key in rows:
        v = vmhost.get(key, float("nan"))
        q = qemu.get(key, float("nan"))
        ratio = q / v if v and v == v and q == q else float("nan")
        print(f"{label:38}{v:12.1f}{q:12.1f}{ratio:12.1f}x")


if __name__ == "__main__":
    main()
