/**
 * Bad input gets one clear line, a documented exit code, and no secret in any output.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, inject } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { createTestOutbox } from '../support/outbox.js';
import { spawnCli, spawnRelay } from '../support/relay-process.js';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';

async function runCli(args: string[], env: Record<string, string>) {
  const proc = spawnCli(args, env);
  const exit = await proc.exited;
  return { code: exit.code, stderr: proc.stderr(), stdout: proc.logs.map((l) => JSON.stringify(l)).join('\n') };
}

describe('command line', () => {
  it('run without connection settings: exit 2 and one line naming both', async () => {
    const r = await runCli(['run'], {});
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('DATABASE_URL is required: set --database-url <url> or DATABASE_URL');
    expect(r.stderr).toContain('KAFKA_BROKERS is required');
  });

  it('an invalid flag value: exit 2, names the flag and what is expected', async () => {
    const r = await runCli(['run', '--batch-size', 'lots'], { DATABASE_URL: 'postgres://x@127.0.0.1/db', KAFKA_BROKERS: '127.0.0.1:9092' });
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.stderr).toBe('outbox-relay: invalid configuration: --batch-size "lots" is invalid: expected an integer from 1 to 10000\n');
  });

  it('an unknown option: exit 2 with commander’s message', async () => {
    const r = await runCli(['run', '--batchsize', '5'], {});
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.stderr).toContain("unknown option '--batchsize'");
  });

  it('a missing env file: exit 2', async () => {
    const r = await runCli(['migrate', '--env-file', '/nonexistent.env'], {});
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.stderr).toBe('outbox-relay: cannot read env file /nonexistent.env (ENOENT): check the --env-file path\n');
  });

  it('an invalid --http-addr: exit 2 with what is expected', async () => {
    const r = await runCli(['run', '--http-addr', '9464'], { DATABASE_URL: 'postgres://x@127.0.0.1/db', KAFKA_BROKERS: '127.0.0.1:9092' });
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.stderr).toBe('outbox-relay: invalid configuration: --http-addr "9464" is invalid: expected host:port (e.g. :9464, 127.0.0.1:9464, [::1]:9464) or off\n');
  });

  it('the HTTP port is taken: exit 3 in one line naming the setting, before touching the database', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as AddressInfo).port;
      // An unreachable database: the listener must fail first, so the line is about the port.
      const r = await runCli(['run'], { DATABASE_URL: 'postgres://x@127.0.0.1:1/db', KAFKA_BROKERS: '127.0.0.1:1', OUTBOX_HTTP_ADDR: `127.0.0.1:${port}` });
      expect(r.code).toBe(ExitCode.UNAVAILABLE);
      expect(r.stderr).toBe(
        `outbox-relay: cannot listen on 127.0.0.1:${port} for /metrics, /healthz and /readyz (the address is in use): set OUTBOX_HTTP_ADDR (--http-addr) to a free host:port, or to off\n`,
      );
    } finally {
      taken.close();
    }
  });

  it('unreachable PostgreSQL: exit 3 in one line, and the password never shows', async () => {
    const r = await runCli(['run'], {
      DATABASE_URL: 'postgres://app:hunter2-secret@127.0.0.1:1/db',
      KAFKA_BROKERS: inject('kafkaBrokers'),
      OUTBOX_DB_CONNECT_TIMEOUT_MS: '2000',
    });
    expect(r.code).toBe(ExitCode.UNAVAILABLE);
    expect(r.stderr).toMatch(/^outbox-relay: cannot connect to PostgreSQL at 127\.0\.0\.1:1\/db \(.*ECONNREFUSED.*\): check DATABASE_URL/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr + r.stdout).not.toContain('hunter2');
    expect(r.stdout).toContain('***'); // the startup log shows the redacted URL
  });

  it('unreachable Kafka: exit 3 in one line', async () => {
    const outbox = await createTestOutbox();
    try {
      const proc = spawnRelay({ ...outbox.env, KAFKA_BROKERS: '127.0.0.1:1', OUTBOX_PUBLISH_TIMEOUT_MS: '3000' });
      const exit = await proc.exited;
      expect(exit.code).toBe(ExitCode.UNAVAILABLE);
      expect(proc.stderr().trim().split('\n')).toHaveLength(1);
      expect(proc.stderr()).toMatch(/^outbox-relay: cannot connect to Kafka at 127\.0\.0\.1:1 \(.+\): check KAFKA_BROKERS and that the brokers are up\n$/);
    } finally {
      await outbox.drop();
    }
  });

  it('precedence end to end: flags > environment > --env-file (later file wins) > defaults', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'outbox-relay-cli-'));
    const first = join(dir, 'first.env');
    const second = join(dir, 'second.env');
    writeFileSync(first, 'OUTBOX_BATCH_SIZE=5\nOUTBOX_POLL_INTERVAL_MS=333\nOUTBOX_TABLE=from_first\nOUTBOX_LISTEN=false\n');
    writeFileSync(second, 'OUTBOX_TABLE=from_second\n');
    // Unreachable database: the relay logs its effective configuration, then exits 3.
    const base = { DATABASE_URL: 'postgres://x@127.0.0.1:1/db', KAFKA_BROKERS: '127.0.0.1:1', OUTBOX_DB_CONNECT_TIMEOUT_MS: '500' };
    const configOf = async (args: string[], env: Record<string, string>) => {
      const proc = spawnCli(['run', '--env-file', first, '--env-file', second, ...args], { ...base, ...env });
      expect((await proc.exited).code).toBe(ExitCode.UNAVAILABLE);
      return proc.logs.find((l) => l.msg === 'starting outbox-relay')!.config as Record<string, unknown>;
    };
    const fromFiles = await configOf([], {});
    expect(fromFiles).toMatchObject({ batchSize: 5, pollIntervalMs: 333, table: 'from_second', listen: false, onPublish: 'delete' });
    const fromEnv = await configOf([], { OUTBOX_BATCH_SIZE: '7', OUTBOX_LISTEN: 'true' });
    expect(fromEnv).toMatchObject({ batchSize: 7, pollIntervalMs: 333, listen: true });
    const fromFlags = await configOf(['--batch-size', '9', '--no-listen'], { OUTBOX_BATCH_SIZE: '7', OUTBOX_LISTEN: 'true' });
    expect(fromFlags).toMatchObject({ batchSize: 9, pollIntervalMs: 333, listen: false });
  });

  it('--help teaches: the producer contract, precedence, exit codes; --version prints the version', async () => {
    const help = spawnCli(['--help'], {});
    expect((await help.exited).code).toBe(0);
    const text = help.logs.map((l) => l.msg).join('\n');
    expect(text).toContain('INSERT INTO outbox (topic, key, payload, headers)');
    expect(text).toContain('flags > environment > --env-file files > defaults');
    expect(text).toContain('4    the database schema is newer than this outbox-relay');
    const runHelp = spawnCli(['run', '--help'], {});
    expect((await runHelp.exited).code).toBe(0);
    // Column wrapping depends on the longest flag; read the help as flowing text.
    expect(runHelp.logs.map((l) => l.msg).join(' ').replace(/\s+/g, ' ')).toMatch(/--batch-size <rows> Most rows [^[]*\[env OUTBOX_BATCH_SIZE; default 500\]/);
    const version = spawnCli(['--version'], {});
    expect((await version.exited).code).toBe(0);
    expect(version.logs[0]!.msg).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
