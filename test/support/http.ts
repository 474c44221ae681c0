/** Reading a relay process's HTTP listener: its port from the log, scrapes, health answers, promtool. */
import { spawn } from 'node:child_process';
import type { RelayProcess } from './relay-process.js';

export async function httpPort(relay: RelayProcess): Promise<number> {
  const line = await relay.waitForLog((l) => l.msg === 'HTTP listener started', 60_000);
  return Number(line.port);
}

export interface Scrape {
  text: string;
  /** Milliseconds the request took. */
  ms: number;
  /** Value of one sample: `value('outbox_relay_published_total', { topic: 'a' })`; undefined if absent. */
  value(name: string, labels?: Record<string, string>): number | undefined;
  /** Sum over every label set of a name (0 if absent). */
  sum(name: string): number;
}

/** `name{a="x",b="y"} 1.5` → name, labels, value. Enough of the text format for our own exposition. */
export function parseExposition(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const samples: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparseable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

export async function scrape(port: number): Promise<Scrape> {
  const started = performance.now();
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  const ms = performance.now() - started;
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${text}`);
  const samples = parseExposition(text);
  const matches = (s: { labels: Record<string, string> }, labels: Record<string, string>) =>
    Object.entries(labels).every(([k, v]) => s.labels[k] === v);
  return {
    text,
    ms,
    value: (name, labels = {}) => samples.find((s) => s.name === name && matches(s, labels))?.value,
    sum: (name) => samples.filter((s) => s.name === name).reduce((n, s) => n + s.value, 0),
  };
}

export async function health(port: number, path: '/healthz' | '/readyz'): Promise<{ status: number; body: { status: string; reasons: string[] }; ms: number }> {
  const started = performance.now();
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(10_000) });
  const body = (await res.json()) as { status: string; reasons: string[] };
  return { status: res.status, body, ms: performance.now() - started };
}

/** `promtool check metrics` on an exposition: resolves with its output, rejects with it on failure. */
export function promtoolCheckMetrics(text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', (err) => reject(new Error(`promtool could not run (${err.message}); stack/up.sh installs it (Debian package prometheus)`)));
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`promtool check metrics exited ${code}: ${out}`))));
    child.stdin.end(text);
  });
}
