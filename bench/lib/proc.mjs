// Peak memory and CPU time of a process and all its descendants, read from /proc (Linux only).
//
//   import { sampleTree } from '../lib/proc.mjs';
//   const sampler = sampleTree(child.pid);          // samples every 100 ms until stop()
//   …
//   const { peakRssMb, cpuS } = sampler.stop();     // last sample taken at stop()
//
// peakRssMb: the highest sum of VmRSS over the tree seen in one sample (MiB).
// cpuS: user+sys CPU seconds (utime+stime) summed over every process of the tree, each at the last
// value it was seen with. A process's CPU after its last sample (at most one interval's worth), and a
// process that lived less than an interval, are missed: that is the error of this method. (The
// parent's cutime/cstime are left out on purpose: they would count reaped children a second time.)
// CPU used before sampleTree() was called is not counted, so sampleTree(process.pid) measures the
// caller from now on.
import { readdirSync, readFileSync } from 'node:fs';

const CLK_TCK = 100; // USER_HZ on Linux; /proc/<pid>/stat times are in these ticks
const PAGE_KB = 4; // x86_64 and arm64 default page size, for statm

function stat(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = s.slice(s.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3 (state)
    return {
      ppid: Number(fields[1]),
      ticks: Number(fields[11]) + Number(fields[12]), // utime + stime of this process only
      rssKb: Number(fields[21]) * PAGE_KB,
    };
  } catch {
    return undefined; // gone
  }
}

function childrenMap() {
  const map = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = stat(name);
    if (!s) continue;
    const list = map.get(s.ppid) ?? [];
    list.push(Number(name));
    map.set(s.ppid, list);
  }
  return map;
}

/** The pids of root and every descendant alive now. */
export function treePids(root) {
  const children = childrenMap();
  const out = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift();
    out.push(pid);
    for (const c of children.get(pid) ?? []) queue.push(c);
  }
  return out;
}

/** Start sampling the tree under rootPid (the root itself when it has no children). */
export function sampleTree(rootPid, { intervalMs = 100 } = {}) {
  const lastTicks = new Map();
  const baseTicks = new Map(); // CPU the processes alive at the start had already used: not counted
  let peakRssKb = 0;
  const sample = () => {
    let rss = 0;
    for (const pid of treePids(rootPid)) {
      const s = stat(pid);
      if (!s) continue;
      rss += s.rssKb;
      lastTicks.set(pid, s.ticks);
    }
    if (rss > peakRssKb) peakRssKb = rss;
  };
  sample();
  for (const [pid, t] of lastTicks) baseTicks.set(pid, t);
  const timer = setInterval(sample, intervalMs);
  timer.unref();
  let result;
  return {
    /** Take a last sample and stop; idempotent. */
    stop() {
      if (result) return result;
      sample();
      clearInterval(timer);
      let ticks = 0;
      for (const [pid, t] of lastTicks) ticks += t - (baseTicks.get(pid) ?? 0);
      result = { peakRssMb: Math.round((peakRssKb / 1024) * 10) / 10, cpuS: Math.round((ticks / CLK_TCK) * 100) / 100 };
      return result;
    },
  };
}

/** user+sys CPU seconds of one process now (e.g. a PostgreSQL backend found by pg_backend_pid()). */
export function cpuSeconds(pid) {
  const s = stat(pid);
  return s ? s.ticks / CLK_TCK : undefined;
}
