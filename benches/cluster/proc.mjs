// What the cluster bench reads from /proc: a process's CPU time and memory, and the whole
// machine's busy time (to tell other load from ours).
import { readFileSync } from 'node:fs';
import { CLK_TCK, processCpuSeconds } from '../lib/runner.mjs';

/** Microseconds on CLOCK_MONOTONIC, the clock the servers stamp broadcasts with. */
export function monoUs() {
  const [s, ns] = process.hrtime();
  return s * 1e6 + Math.floor(ns / 1e3);
}

/** CPU seconds (user + system, every thread) process `pid` has used, or null once it is gone. */
export { processCpuSeconds as cpuSeconds };

/** Resident memory of process `pid` in bytes (VmRSS), or null once it is gone. */
export function rssBytes(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number((status.match(/^VmRSS:\s+(\d+)/m) ?? [0, NaN])[1]) * 1024;
  } catch {
    return null;
  }
}

/**
 * CPU seconds the whole machine has been busy (all cores, from /proc/stat): `task` is time
 * charged to processes, `irq` is interrupt and softirq time (on loopback mostly TCP work).
 */
export function machineBusySeconds() {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = cpu;
  return { task: (user + nice + system + (steal ?? 0)) / CLK_TCK, irq: (irq + softirq) / CLK_TCK };
}
