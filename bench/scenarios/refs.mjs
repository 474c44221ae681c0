// The reference systems (Kafka's ProducerPerformance, the SQL-only ceiling, Debezium, a Node peer) are
// CLI modules under bench/refs/<name>.mjs that start whatever they need themselves and print one JSON
// line last on stdout:
//   {"system","version","rows","delivered","seconds","rows_per_s","peak_rss_mb","cpu_s","settings","notes"}
// A non-zero exit, a missing module or an unreadable last line is a failed run, recorded, not fatal.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../harness/env.mjs';

export const REFS = ['kafka-ceiling', 'db-ceiling', 'debezium', 'node-peer'];

export function refPath(name) {
  return `${ROOT}bench/refs/${name}.mjs`;
}

export async function drainRef(ctx, name, round) {
  const { env, opts } = ctx;
  const file = refPath(name);
  if (!existsSync(file)) throw new Error(`bench/refs/${name}.mjs is missing`);
  const workdir = mkdtempSync(join(tmpdir(), `bench-${name}-`));
  const topic = `bench.ref.${name}.${round}.${Date.now().toString(36)}`;
  const rows = opts.refRows?.[name] ?? opts.rows;
  const args = [file, '--rows', String(rows), '--payload-bytes', String(opts.payloadBytes), '--keys', String(opts.keys),
    '--partitions', String(opts.partitions), '--brokers', env.stack.KAFKA_BROKERS, '--database-url', env.stack.DATABASE_URL,
    '--topic', topic, '--workdir', workdir];
  try {
    const { code, signal, stdout, stderrTail } = await new Promise((resolve, reject) => {
      const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderrTail = '';
      let partial = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => {
        stderrTail = (stderrTail + d).slice(-3000);
        const lines = (partial + d).split('\n');
        partial = lines.pop();
        for (const l of lines) if (l.trim()) ctx.progress(`${name}: ${l.trim().slice(0, 160)}`);
      });
      const timer = setTimeout(() => child.kill('SIGTERM'), opts.refTimeoutS * 1000);
      child.on('error', reject);
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout, stderrTail });
      });
    });
    if (code !== 0) {
      // the error line itself (a stack trace ends with frames and the Node version, not the reason)
      const lines = stderrTail.trim().split('\n').map((l) => l.trim()).filter(Boolean);
      const reason = lines.find((l) => /^(\w*Error\b|error:|\S+: )/.test(l) && !l.startsWith('at ')) ?? lines.slice(-3).join(' | ');
      throw new Error(`exit ${code ?? signal}: ${reason.slice(0, 300)}`);
    }
    const last = stdout.trim().split('\n').at(-1) ?? '';
    let result;
    try {
      result = JSON.parse(last);
    } catch {
      throw new Error(`last stdout line is not JSON: ${last.slice(0, 200)}`);
    }
    if (typeof result.rows_per_s !== 'number') throw new Error('its JSON has no numeric rows_per_s');
    return result;
  } finally {
    rmSync(workdir, { recursive: true, force: true });
    // deleting a topic that was never created makes kafkajs retry for seconds: only delete what exists
    const topics = await env.admin.listTopics().catch(() => []);
    if (topics.includes(topic)) await env.admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  }
}
