// The relay as a real process (bin/outbox-relay run), with its own RSS and CPU read from /proc every
// 100 ms, so the numbers are the relay's and not the harness's.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpuSeconds } from '../lib/proc.mjs';
import { ROOT } from './env.mjs';


/** utime+stime (µs) and VmRSS (MB) of a pid, or undefined once it is gone. */
export function procSample(pid) {
  try {
    const cpu = cpuSeconds(pid);
    if (cpu === undefined) return undefined;
    const cpuUs = cpu * 1e6;
    const rss = /VmRSS:\s*(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { t: Date.now(), cpuUs, rssMb: rss ? Number(rss[1]) / 1024 : 0 };
  } catch {
    return undefined;
  }
}

/** Every relay process still running, so an interrupted bench can stop them. */
export const LIVE = new Set();

export class RelayProcess {
  /** env: OUTBOX_* settings on top of the bench defaults (HTTP off, LOG_LEVEL=warn). */
  constructor(stack, schema, env = {}) {
    this.startedAt = Date.now();
    this.child = spawn(`${ROOT}bin/outbox-relay`, ['run'], {
      env: {
        ...process.env,
        DATABASE_URL: stack.DATABASE_URL,
        KAFKA_BROKERS: stack.KAFKA_BROKERS,
        OUTBOX_SCHEMA: schema,
        OUTBOX_HTTP_ADDR: 'off',
        LOG_LEVEL: 'warn',
        ...env,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.stderr = '';
    this.child.stderr.on('data', (d) => {
      this.stderr = (this.stderr + d).slice(-4000);
    });
    LIVE.add(this);
    this.exited = new Promise((res) => this.child.on('exit', (code, signal) => {
      LIVE.delete(this);
      res({ code, signal });
    }));
    this.samples = [];
    this.timer = setInterval(() => this.sample(), 100);
  }

  sample() {
    const s = procSample(this.child.pid);
    if (s) this.samples.push(s);
    return s;
  }

  get peakRssMb() {
    return this.samples.reduce((m, s) => Math.max(m, s.rssMb), 0);
  }

  /** CPU µs used between two wall-clock times (nearest samples). */
  cpuBetween(t0, t1) {
    const at = (t) => this.samples.reduce((best, s) => (Math.abs(s.t - t) < Math.abs(best.t - t) ? s : best), this.samples[0]);
    return at(t1).cpuUs - at(t0).cpuUs;
  }

  async stop() {
    this.sample();
    clearInterval(this.timer);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    const exit = await this.exited;
    return exit;
  }
}
