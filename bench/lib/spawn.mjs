// Child processes of a benchmark: start one (its stdout/stderr to a log file, or inherited), sample its
// tree (bench/lib/proc.mjs), and stop it within a bound.
//
//   const run = startMeasured(cmd, args, { env, cwd, log });  // run.startedAtMs: Date.now() just before spawn
//   run.alive()                       still running?
//   await run.exited                  { code, signal }
//   await run.stop({ graceMs: 15000 }) SIGTERM, then SIGKILL after graceMs (e.g. Kafka Connect, whose
//                                     Jetty sometimes ignores SIGTERM); returns { peakRssMb, cpuS }
//   run.usage()                       stop sampling now and return { peakRssMb, cpuS }
import { spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { sampleTree } from './proc.mjs';

export function startMeasured(cmd, args, { env = process.env, cwd, log } = {}) {
  const out = log ? openSync(log, 'a') : 'inherit';
  const startedAtMs = Date.now();
  const child = spawn(cmd, args, { env, cwd, stdio: ['ignore', log ? out : 'pipe', out], detached: false });
  const sampler = sampleTree(child.pid);
  let running = true;
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      running = false;
      resolve({ code, signal });
    });
  });
  return {
    child,
    pid: child.pid,
    startedAtMs,
    exited,
    alive: () => running,
    usage: () => sampler.stop(),
    async stop({ graceMs = 15_000, signal = 'SIGTERM' } = {}) {
      const usage = sampler.stop();
      if (running) {
        child.kill(signal);
        const killed = await Promise.race([exited.then(() => true), new Promise((res) => setTimeout(() => res(false), graceMs))]);
        if (!killed) {
          child.kill('SIGKILL');
          await exited;
        }
      }
      return usage;
    },
  };
}
