/**
 * Test support: what the kernel says of a process (Linux /proc): CPU seconds of a process and its
 * descendants or of its main thread alone, minor page faults, resident memory, and the machine's
 * CPU time. For benches that run real processes (bench/round.bench.ts, bench/scale.bench.ts,
 * e2e/bench.ts); off Linux every reading is 0.
 */

import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ; 100 on Linux). */
const TICKS = 100;

/** The pids of a process's children, not their descendants (/proc/<pid>/task/<tid>/children); none once it is gone. */
export function childPids(pid: number): number[] {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  return tasks.flatMap((tid) => {
    try {
      return readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  });
}

/** The pids of `pid`'s descendants. */
function descendants(pid: number): number[] {
  return childPids(pid).flatMap((child) => [child, ...descendants(child)]);
}

/** The fields of `/proc/<pid>/stat` (or of a thread's) after the command name, from `state`; undefined once gone. */
function statFields(pid: number, tid?: number): string[] | undefined {
  try {
    const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** utime and stime of one process (or of one of its threads: `/proc/<pid>/task/<tid>`), seconds; 0 once gone. */
function ownCpu(pid: number, tid?: number): { user: number; system: number } {
  const fields = statFields(pid, tid);
  if (fields === undefined) return { user: 0, system: 0 };
  return { user: Number(fields[11]) / TICKS, system: Number(fields[12]) / TICKS };
}

/** Minor page faults of a process so far (`minflt`: pages touched for the first time); 0 once gone. */
export function minorFaults(pid: number): number {
  return Number(statFields(pid)?.[7] ?? 0);
}

/** CPU seconds in user space and in the kernel of a process and its descendants, all threads. */
export function cpuTimes(pid: number): { user: number; system: number } {
  const all = [pid, ...descendants(pid)].map((p) => ownCpu(p));
  return { user: all.reduce((a, c) => a + c.user, 0), system: all.reduce((a, c) => a + c.system, 0) };
}

/** CPU seconds of a process's main thread (for Node: the event loop's, without GC helpers and the libuv pool). */
export function mainThreadCpuSeconds(pid: number): number {
  const { user, system } = ownCpu(pid, pid);
  return user + system;
}

/** A process and each of its descendants: its command line (argv) and its own CPU seconds, all its threads. */
export function processTree(pid: number): { pid: number; argv: string[]; cpuSeconds: number }[] {
  return [pid, ...descendants(pid)].map((p) => {
    let argv: string[] = [];
    try {
      argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').filter(Boolean);
    } catch {
      // gone since it was listed: its CPU reads 0 too
    }
    const { user, system } = ownCpu(p);
    return { pid: p, argv, cpuSeconds: user + system };
  });
}

/** CPU seconds (utime + stime) of a process and its descendants, all threads. */
export function cpuSeconds(pid: number): number {
  const { user, system } = cpuTimes(pid);
  return user + system;
}

/** The kernel's high-water mark of a process's resident set (VmHWM), MiB; or its current RSS. */
export function memoryMiB(pid: number): { peakRssMiB: number; rssMiB: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
    return { peakRssMiB: kb('VmHWM') / 1024, rssMiB: kb('VmRSS') / 1024 };
  } catch {
    return { peakRssMiB: 0, rssMiB: 0 };
  }
}

/**
 * The whole machine's CPU time from /proc/stat, seconds: busy (all but idle and iowait), total,
 * and of the busy time softirq (the kernel's network processing, loopback TCP included, charged to
 * no process) and steal (taken by the hypervisor).
 */
export function machineCpu(): { busy: number; total: number; softirq: number; steal: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  // user nice system idle iowait irq softirq steal guest guest_nice (guest time is inside user)
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = ticks.reduce((a, b) => a + b, 0);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  return {
    busy: (total - idle) / TICKS,
    total: total / TICKS,
    softirq: (ticks[6] ?? 0) / TICKS,
    steal: (ticks[7] ?? 0) / TICKS,
  };
}
