/**
 * PostgreSQL crashes (pg_ctl -m immediate) under a running relay and stays down for longer than
 * pg-listen's default 3 s reconnect window, then comes back: the relay recovers by itself — claims
 * resume, the LISTEN connection is re-established and NOTIFY works again — with lost 0, per-key
 * order kept and duplicates within one batch.
 *
 * Uses a private cluster (stack/pg-private.sh on port 5433) so the shared database stays up.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { check, writeKeyed } from '../support/checker.js';
import { health, httpPort, scrape } from '../support/http.js';
import { createTopic, readAll } from '../support/kafka.js';
import { createTestOutbox, waitFor, type TestOutbox } from '../support/outbox.js';
import { spawnRelay, started, type RelayProcess } from '../support/relay-process.js';

const run = promisify(execFile);
const PORT = '5433';
const pgPrivate = (cmd: string) => run('bash', ['stack/pg-private.sh', cmd, PORT], { timeout: 120_000 });

describe('PostgreSQL crash and restart', () => {
  let outbox: TestOutbox | undefined;
  let relay: RelayProcess | undefined;
  let frozen: number[] = [];

  beforeAll(async () => {
    await pgPrivate('start');
  }, 120_000);
  afterAll(async () => {
    signal(frozen, 'SIGCONT');
    relay?.kill('SIGKILL');
    await relay?.exited;
    await outbox?.pool.end().catch(() => undefined);
    await pgPrivate('destroy');
  }, 60_000);

  it('down for 5 s, then back: relay and LISTEN recover by themselves, lost 0', async () => {
    outbox = await createTestOutbox({ databaseUrl: `postgres://postgres@127.0.0.1:${PORT}/postgres` });
    const { names, pool } = outbox;
    const topic = await createTopic(2);
    const insert = outbox.insert;
    const pending = outbox.pendingCount;
    const listening = async () =>
      (await pool.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = $1`, [names.listenApplicationName])).rowCount === 1;

    relay = spawnRelay({
      ...outbox.env,
      OUTBOX_BATCH_SIZE: '50',
      OUTBOX_DB_CONNECT_TIMEOUT_MS: '1000',
      OUTBOX_LISTEN_HEARTBEAT_MS: '1000',
      // A minute: rows written after the restart can only arrive in time through NOTIFY, so the test
      // fails if the LISTEN is not back in place (a backend with the listener's name is not enough).
      OUTBOX_POLL_INTERVAL_MS: '60000',
    });
    await relay.waitForLog(started);
    const before = await writeKeyed(insert, topic, { keys: 5, perKey: 40, rowsPerTx: 50, prefix: 'before' });
    await waitFor('first rows drained', async () => (await pending()) === 0);
    await waitFor('LISTEN connected', listening);

    await pgPrivate('stop');
    await new Promise((resolve) => setTimeout(resolve, 5000)); // longer than pg-listen's 3 s give-up
    expect(relay.child.exitCode).toBeNull(); // still running
    await pgPrivate('start');

    // Back up: the listener reconnects by itself (and runs its catch-up claim), and rows written now
    // flow, woken by NOTIFY.
    const listeningLogs = () => relay!.logs.filter((l) => l.msg === 'listening for outbox notifications');
    await waitFor('LISTEN re-established', async () => (await listening()) && listeningLogs().length >= 2, 60_000, 200);
    // The catch-up claim after the reconnect ends in a fresh idle declaration (same machine, same clock).
    const reconnectedAt = new Date(String(listeningLogs()[1]!.time));
    await waitFor('relay idle again, declared after the reconnect', async () => {
      const r = await pool.query(`SELECT 1 FROM ${names.wakeup} WHERE waiting_until >= $1::timestamptz + interval '180 seconds'`, [reconnectedAt]);
      return r.rowCount === 1;
    }, 30_000);
    const after = await writeKeyed(insert, topic, { keys: 5, perKey: 40, rowsPerTx: 50, prefix: 'after' });
    await waitFor('rows after the restart drained (by NOTIFY: the poll is a minute away)', async () => (await pending()) === 0, 15_000);

    const result = check([...before, ...after], await readAll([topic]));
    expect(result.lost).toEqual([]);
    expect(result.orderViolations).toEqual([]);
    expect(result.duplicates).toBeLessThanOrEqual(50);
    expect(relay.logs.some((l) => String(l.msg).includes('LISTEN connection'))).toBe(true); // it noticed
  });

  it('frozen (SIGSTOP): /metrics and /healthz answer at once from memory, the backlog sample ages, all resumes', async () => {
    relay?.kill('SIGKILL');
    await relay?.exited;
    await outbox?.pool.end().catch(() => undefined);
    outbox = await createTestOutbox({ databaseUrl: `postgres://postgres@127.0.0.1:${PORT}/postgres` });
    relay = spawnRelay({ ...outbox.env, OUTBOX_BACKLOG_INTERVAL_MS: '1000', OUTBOX_PUBLISH_TIMEOUT_MS: '3000' });
    const port = await httpPort(relay);
    await relay.waitForLog(started);
    const age = async () => (await scrape(port)).value('outbox_relay_backlog_sample_age_seconds') ?? -1;
    await waitFor('a fresh backlog sample', async () => {
      const a = await age();
      return a >= 0 && a < 2;
    }, 30_000, 200);

    frozen = clusterPids();
    signal(frozen, 'SIGSTOP');
    try {
      // Every answer comes from memory while the database is frozen; the sample's age says how stale it is.
      const stale = await waitFor('the backlog sample ages', async () => {
        const m = await scrape(port);
        expect(m.ms).toBeLessThan(1000);
        const a = m.value('outbox_relay_backlog_sample_age_seconds')!;
        return a > 4 ? m : undefined;
      }, 30_000, 250);
      expect(stale.value('outbox_relay_info', { version: stale.text.match(/outbox_relay_info\{version="([^"]+)"/)![1]! })).toBe(1);
      const live = await health(port, '/healthz');
      expect(live.ms).toBeLessThan(1000);
      expect(live.status).toBe(200);
      expect((await health(port, '/readyz')).ms).toBeLessThan(1000);
    } finally {
      signal(frozen, 'SIGCONT');
      frozen = [];
    }
    await waitFor('fresh samples again', async () => {
      const a = await age();
      return a >= 0 && a < 2;
    }, 60_000, 200);
    expect(relay.child.exitCode).toBeNull();
  });
});

/** The private cluster's postmaster and every process it forked. */
function clusterPids(): number[] {
  const postmaster = Number(readFileSync(`/tmp/outbox-relay-pg-${PORT}/postmaster.pid`, 'utf8').split('\n')[0]);
  const children = readFileSync(`/proc/${postmaster}/task/${postmaster}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  return [postmaster, ...children];
}

function signal(pids: number[], sig: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      // gone already
    }
  }
}
