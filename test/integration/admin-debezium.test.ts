/**
 * The operator commands with --mapping debezium, against the real PostgreSQL and Kafka, run as
 * `bin/outbox-relay` (build first): a Debezium-style outbox table the relay did not create, its
 * capture table beside it (docs/debezium.md). status and doctor report the routed Kafka topics
 * (outbox.event.<aggregatetype>); replay and prune work on the capture table.
 */
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import type { Finding } from '../../src/commands/doctor.js';
import type { Status } from '../../src/commands/status.js';
import { loadConfig } from '../../src/config.js';
import { ExitCode } from '../../src/errors.js';
import { outboxNames, type OutboxNames } from '../../src/names.js';
import { Relay } from '../../src/relay/relay.js';
import { createTopic, readAll } from '../support/kafka.js';
import { debeziumOutboxSql, silentLog, uniqueName, waitFor } from '../support/outbox.js';
import { runCommand } from '../support/relay-process.js';

describe('operator commands, debezium mapping', () => {
  let pool: pg.Pool;
  let schema: string;
  let names: OutboxNames;
  let env: Record<string, string>;
  const relays: Relay[] = [];

  beforeEach(async () => {
    schema = uniqueName('dbzadm');
    pool = new pg.Pool({ connectionString: inject('databaseUrl'), max: 2 });
    // Debezium's canonical outbox table, created by "the application".
    await pool.query(debeziumOutboxSql(schema));
    names = outboxNames(schema, 'outbox');
    env = { DATABASE_URL: inject('databaseUrl'), KAFKA_BROKERS: inject('kafkaBrokers'), OUTBOX_SCHEMA: schema, OUTBOX_TABLE: 'outbox', OUTBOX_MAPPING: 'debezium', LOG_LEVEL: 'warn' };
    const migrated = await runCommand(['migrate'], env);
    expect(migrated.code, migrated.stderr).toBe(0);
  });
  afterEach(async () => {
    await Promise.all(relays.splice(0).map((r) => r.stop()));
    await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
    await pool.end();
  });

  const cli = (args: string[]) => runCommand(args, env);
  const q = (sql: string, params: unknown[] = []) => pool.query(sql, params);
  /** Rows of the user's table; the capture trigger makes each one pending. */
  const insert = async (aggregatetype: string, ids: string[]) => {
    for (const id of ids) await q(`INSERT INTO "${schema}".outbox (aggregatetype, aggregateid, type, payload) VALUES ($1, $2, 'Evt', '{"n": 1}')`, [aggregatetype, id]);
  };
  /** A topic named outbox.event.<type>, and the aggregatetype that routes to it. */
  const routedTopic = async () => {
    const topic = await createTopic(1, 'outbox.event.adm');
    return { topic, type: topic.slice('outbox.event.'.length) };
  };

  it('status and doctor: backlog per routed topic (pending, oldest age, dead, blocked keys), the capture table\'s index and triggers, a missing routed topic named', async () => {
    const { topic, type } = await routedTopic();
    const ghost = uniqueName('ghost');
    await insert(type, ['a-1', 'a-2', 'a-1']);
    await insert(ghost, ['g-1', 'g-2']);
    // One dead row of a-1 (as the relay records it: the capture row's seq, the routed topic), and the
    // oldest pending row of the topic written 90 s ago.
    const first = (await q(`SELECT c.seq FROM ${names.captured} c JOIN "${schema}".outbox t ON t.id = c.id WHERE t.aggregatetype = $1 ORDER BY c.seq LIMIT 1`, [type])).rows[0].seq as string;
    await q(`INSERT INTO ${names.failures} (seq, key, topic, attempts, error_class, last_error, dead_at) VALUES ($1, 'a-1', $2, 1, 'refused', 'x', now())`, [first, topic]);
    await q(`UPDATE ${names.captured} SET created_at = now() - interval '90 seconds' WHERE seq = $1`, [first]);

    const r = await cli(['status', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as Status;
    expect(s.topics).toEqual(
      [
        { topic, pending: 3, oldestPendingSeconds: expect.any(Number), waiting: 0, dead: 1, blockedKeys: 1 },
        { topic: `outbox.event.${ghost}`, pending: 2, oldestPendingSeconds: expect.any(Number), waiting: 0, dead: 0, blockedKeys: 0 },
      ].sort((a, b) => (a.topic < b.topic ? -1 : 1)),
    );
    expect(s.topics.find((t) => t.topic === topic)!.oldestPendingSeconds).toBeGreaterThanOrEqual(90);
    expect(s.trigger).toEqual({ installed: true, enabled: true, tgenabled: 'O' });
    expect(s.unownedPartitions).toHaveLength(64);
    expect((await cli(['status'])).stdout).toMatch(new RegExp(`^${topic.replaceAll('.', '\\.')}\\s+3\\s+\\d+(\\.\\d)?\\s+0\\s+1\\s+1$`, 'm'));

    const doctor = async () => {
      const d = await cli(['doctor', '--json']);
      return { code: d.code, stderr: d.stderr, ...(JSON.parse(d.stdout) as { findings: Finding[] }) };
    };
    const d = await doctor();
    expect(d.code, d.stderr).toBe(ExitCode.DOCTOR_PROBLEMS);
    const byCheck = (check: string) => d.findings.filter((f) => f.check === check).map((f) => ({ severity: f.severity, message: f.message }));
    expect(byCheck('schema')).toEqual([{ severity: 'ok', message: expect.stringContaining(`debezium mapping: capture table ${names.captured}`) }]);
    expect(byCheck('pending index')).toEqual([{ severity: 'ok', message: `${names.capturedPendingIndex} is valid` }]);
    for (const check of ['wake-up trigger', 'capture trigger', 'forget trigger', 'privileges', 'kafka-brokers', 'kafka-idempotence', `topic ${topic}`]) {
      expect(byCheck(check).map((f) => f.severity), check).toEqual(['ok']);
    }
    // The routed name of the missing topic, not the aggregatetype.
    expect(byCheck('kafka-topics')).toEqual([{ severity: 'fail', message: `topic outbox.event.${ghost} has 2 pending row(s) but does not exist` }]);

    // Without the capture trigger, new rows of the user's table are never published.
    await q(`ALTER TABLE "${schema}".outbox DISABLE TRIGGER ${names.captureTrigger}`);
    const sick = await doctor();
    expect(sick.findings.find((f) => f.check === 'capture trigger')).toEqual({
      check: 'capture trigger',
      severity: 'fail',
      message: `the trigger ${names.captureTrigger} is disabled (tgenabled D): rows inserted into ${names.outbox} are not captured and never published`,
      fix: `ALTER TABLE ${names.outbox} ENABLE TRIGGER ${names.captureTrigger}`,
    });
  });

  it('replay copies sent rows as new capture rows (published again, same event id); prune deletes old sent capture rows and their user rows, keeping rows a replayed copy still needs', async () => {
    const { topic, type } = await routedTopic();
    const other = await routedTopic();
    await insert(type, ['a-1', 'a-2', 'b-1']);
    await insert(other.type, ['c-1']);
    const relay = new Relay(loadConfig('run', { env: { ...env, OUTBOX_ON_PUBLISH: 'mark', OUTBOX_POLL_INTERVAL_MS: '200', LOG_LEVEL: 'silent' } }), silentLog);
    relays.push(relay);
    void relay.run();
    const pending = async () => Number((await q(`SELECT count(*) AS n FROM ${names.captured} WHERE sent_at IS NULL`)).rows[0].n);
    await waitFor('every row sent', async () => (await pending()) === 0, 30_000);
    // a-1, a-2 and c-1 were sent three days ago, b-1 just now.
    await q(`UPDATE ${names.captured} c SET sent_at = now() - interval '3 days' FROM "${schema}".outbox t WHERE t.id = c.id AND t.aggregateid IN ('a-1', 'a-2', 'c-1')`);
    const ids = Object.fromEntries((await q(`SELECT aggregateid, id::text FROM "${schema}".outbox`)).rows.map((r: { aggregateid: string; id: string }) => [r.aggregateid, r.id]));

    const dry = await cli(['replay', '--topic', topic, '--since', '4d', '--until', '1d', '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ matched: 2, replayed: 0, dryRun: true });
    const replayed = await cli(['replay', '--topic', topic, '--since', '4d', '--until', '1d']);
    expect(replayed.code, replayed.stderr).toBe(0);
    expect(replayed.stdout).toMatch(/^replayed 2 rows as new pending rows/);
    await waitFor('the copies sent', async () => (await pending()) === 0, 30_000);
    const received = await readAll([topic]);
    expect(received.map((m) => m.headers.id)).toEqual([ids['a-1'], ids['a-2'], ids['b-1'], ids['a-1'], ids['a-2']]);

    const prune = await cli(['prune', '--older-than', '2d', '--json']);
    expect(prune.code, prune.stderr).toBe(0);
    expect(JSON.parse(prune.stdout)).toMatchObject({ matched: 3, deleted: 3 });
    // c-1's user row went with its capture row; a-1 and a-2 stay: their replayed copies refer to them.
    const left = (await q(`SELECT t.aggregateid, count(c.seq)::int AS captured FROM "${schema}".outbox t LEFT JOIN ${names.captured} c ON c.id = t.id GROUP BY 1 ORDER BY 1`)).rows;
    expect(left).toEqual([
      { aggregateid: 'a-1', captured: 1 },
      { aggregateid: 'a-2', captured: 1 },
      { aggregateid: 'b-1', captured: 1 },
    ]);
  });
});
