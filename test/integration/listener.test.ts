/**
 * The LISTEN supervisor (src/listener.ts) on the real PostgreSQL: when pg-listen's own reconnect
 * gives up, the supervisor replaces the whole subscriber, and the replacement LISTENs on the right
 * channel. The outage is a login ban on the listener's own role (ALTER ROLE … NOLOGIN plus
 * pg_terminate_backend), so the shared database stays up for every other test.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { WakeListener } from '../../src/listener.js';
import { createLogger } from '../../src/log.js';
import { quoteIdent } from '../../src/names.js';
import { uniqueName, waitFor } from '../support/outbox.js';
import pg from 'pg';

describe('LISTEN supervisor', () => {
  const admin = new pg.Pool({ connectionString: inject('databaseUrl'), max: 2, application_name: 'outbox-relay-test' });
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('pg-listen gives up reconnecting: the supervisor replaces it, LISTENs on the channel again, and runs a catch-up', async () => {
    const role = uniqueName('listener');
    await admin.query(`CREATE ROLE ${quoteIdent(role)} LOGIN`);
    cleanups.push(async () => {
      await admin.query(`DROP ROLE IF EXISTS ${quoteIdent(role)}`);
      await admin.end();
    });
    const url = new URL(inject('databaseUrl'));
    url.username = role;
    url.password = '';
    const channel = `${role}.outbox`;
    const logs: { msg: string }[] = [];
    let notifies = 0;
    let connects = 0;
    const listener = new WakeListener({
      databaseUrl: url.toString(),
      channel,
      heartbeatMs: 500,
      connectTimeoutMs: 1000,
      applicationName: `outbox-relay-test:${role}`,
      reconnectWindowMs: 300, // pg-listen gives up quickly: the supervisor's path is what is tested
      log: createLogger('info', { write: (line: string) => void logs.push(JSON.parse(line) as { msg: string }) }),
      onNotify: () => (notifies += 1),
      onConnected: () => (connects += 1),
    });
    listener.start();
    cleanups.push(() => listener.close());
    const notifyArrives = async (what: string) => {
      const before = notifies;
      await admin.query('SELECT pg_notify($1, $2)', [channel, '']);
      await waitFor(what, async () => notifies > before, 5000, 10);
    };

    await waitFor('first connection', async () => listener.connected);
    await notifyArrives('a NOTIFY on the first connection');
    expect(connects).toBe(1);

    await admin.query(`ALTER ROLE ${quoteIdent(role)} NOLOGIN`);
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, [role]);
    await waitFor('pg-listen giving up', async () => logs.some((l) => l.msg === 'LISTEN connection gave up reconnecting; replacing it'), 30_000);
    expect(listener.connected).toBe(false);

    await admin.query(`ALTER ROLE ${quoteIdent(role)} LOGIN`);
    await waitFor('the replacement subscriber connected', async () => listener.connected, 30_000);
    expect(connects).toBe(2); // the relay's catch-up claim is triggered by this
    await notifyArrives('a NOTIFY on the replacement connection');
  });
});
