/**
 * The operator commands against the real PostgreSQL and Kafka, run as `bin/outbox-relay` (build
 * first): status, doctor (each check failing for real: missing topic, a pending row over its topic's
 * max.message.bytes, disabled trigger, a role without grants and with a short idle_session_timeout,
 * autovacuum off on the table, Kafka unreachable), replay (mark mode end to end, down to the Kafka
 * messages) and prune. The debezium mapping's commands: test/integration/admin-debezium.test.ts.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { Relay } from '../../src/relay/relay.js';
import { pruneSent } from '../../src/relay/retention.js';
import type { Finding } from '../../src/commands/doctor.js';
import type { Status } from '../../src/commands/status.js';
import { useFixture } from '../support/fixture.js';
import { createTopic, readAll } from '../support/kafka.js';
import { silentLog, uniqueName, waitFor, type NewRow } from '../support/outbox.js';
import { runCommand } from '../support/relay-process.js';

const rows = (topic: string, keys: number, perKey: number): NewRow[] =>
  Array.from({ length: keys * perKey }, (_, i) => ({ topic, key: `k-${i % keys}`, payload: Buffer.from(`${topic}:${i % keys}:${Math.floor(i / keys)}`) }));

describe('operator commands', () => {
  const fixture = useFixture();
  const cli = (args: string[], env: Record<string, string> = {}) => runCommand(args, { ...fixture.outbox.env, ...env });
  const q = (sql: string, params: unknown[] = []) => fixture.outbox.pool.query(sql, params);
  const doctorFindings = async (env: Record<string, string> = {}) => {
    const r = await cli(['doctor', '--json'], env);
    return { code: r.code, stderr: r.stderr, ...(JSON.parse(r.stdout) as { ok: boolean; findings: Finding[] }) };
  };
  const severityOf = (findings: Finding[], check: string) => findings.filter((f) => f.check === check).map((f) => f.severity);

  it('status: pending, oldest age, waiting, dead and blocked keys per topic; the relays connected; the trigger', async () => {
    const o = fixture.outbox;
    await o.insert([...rows('alpha', 3, 4), ...rows('beta', 2, 1)]);
    // Two dead rows of key k-0 and a row of k-1 waiting for a retry, in alpha, as the relay records
    // them: three failed rows, two blocked keys.
    await q(`INSERT INTO ${o.names.failures} (seq, key, topic, attempts, error_class, last_error, dead_at, next_attempt_at)
             SELECT seq, key, topic, 1, 'too-large', 'x', CASE WHEN key = 'k-0' THEN now() END, CASE WHEN key = 'k-1' THEN now() + interval '1 hour' END
             FROM ${o.names.outbox} WHERE topic = 'alpha' AND key IN ('k-0', 'k-1') ORDER BY seq LIMIT 3`);
    await q(`UPDATE ${o.names.outbox} SET created_at = now() - interval '90 seconds' WHERE seq = (SELECT min(seq) FROM ${o.names.outbox})`);
    const r = await cli(['status', '--json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as Status;
    expect(s.topics).toEqual([
      { topic: 'alpha', pending: 12, oldestPendingSeconds: expect.any(Number), waiting: 1, dead: 2, blockedKeys: 2 },
      { topic: 'beta', pending: 2, oldestPendingSeconds: expect.any(Number), waiting: 0, dead: 0, blockedKeys: 0 },
    ]);
    expect(s.topics[0]!.oldestPendingSeconds).toBeGreaterThanOrEqual(90);
    expect(s.topics[1]!.oldestPendingSeconds).toBeLessThan(90);
    expect(s.relays).toEqual([]);
    expect(s.trigger).toEqual({ installed: true, enabled: true, tgenabled: 'O' });
    expect(s.replicas).toEqual([]);
    expect(s.unownedPartitions).toHaveLength(64);

    // Human output: a table with the same numbers.
    const human = await cli(['status']);
    expect(human.stdout).toMatch(/^alpha\s+12\s+\d+(\.\d)?\s+1\s+2\s+2$/m);
    expect(human.stdout).toContain('relays connected: none');
    expect(human.stdout).toContain('wake-up trigger: installed, enabled');

    // A running relay (its rows wait for a topic that does not exist) and a disabled trigger.
    const relay = fixture.start(new Relay(o.config({ OUTBOX_POLL_INTERVAL_MS: '200', OUTBOX_UNKNOWN_TOPIC_DEAD_AFTER_MS: '600000' }), silentLog));
    await waitFor('the relay listening', async () => relay.listening);
    await q(`ALTER TABLE ${o.names.outbox} DISABLE TRIGGER ${o.names.notifyTrigger}`);
    const withRelay = JSON.parse((await cli(['status', '--json'])).stdout) as Status;
    expect(withRelay.relays.filter((c) => c.role === 'listen')).toHaveLength(1);
    expect(withRelay.relays.filter((c) => c.role === 'claim').length).toBeGreaterThanOrEqual(1);
    expect(withRelay.relays[0]!.clientAddr).toBe('127.0.0.1');
    expect(withRelay.trigger).toEqual({ installed: true, enabled: false, tgenabled: 'D' });
    // Ownership: the one replica holds all 64 key partitions, since its first heartbeat.
    expect(withRelay.replicas).toEqual([
      { relayId: relay.relayId, startedAt: expect.any(String), heartbeatAt: expect.any(String), partitions: Array.from({ length: 64 }, (_, i) => i), since: expect.any(String) },
    ]);
    expect(withRelay.unownedPartitions).toEqual([]);
    const text = (await cli(['status'])).stdout;
    expect(text).toContain('installed but DISABLED');
    expect(text).toContain('replicas: 1 alive, sharing the 64 key partitions');
    expect(text).toMatch(new RegExp(`^${relay.relayId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s+64 \\(0-63\\)`, 'm'));
  });

  it('doctor: a healthy outbox and topic pass the relay\'s Kafka preflight; a missing topic, a row over its topic\'s limit, a disabled trigger and autovacuum off on the table fail with their fix, exit 6', async () => {
    const o = fixture.outbox;
    const topic = await createTopic(2);
    await o.insert(rows(topic, 2, 2));
    const healthy = await doctorFindings();
    const kafkaChecks = ['kafka-brokers', 'kafka-api-versions', 'kafka-idempotence', 'kafka-topics', 'kafka-message-size'];
    for (const check of ['schema', 'pending index', 'wake-up trigger', 'privileges', 'statement_timeout', 'idle_session_timeout', ...kafkaChecks, `topic ${topic}`]) {
      expect(severityOf(healthy.findings, check), check).toEqual(['ok']);
    }
    expect(healthy.findings.find((f) => f.check === `topic ${topic}`)!.message).toMatch(/2 partitions, each with a leader and all replicas in sync \(min\.insync\.replicas=1\)/);
    expect(healthy.findings.find((f) => f.check === 'kafka-brokers')!.message).toMatch(/^Kafka at 127\.0\.0\.1:\d+ answers \(PLAINTEXT\): 1 broker\(s\)/);
    expect(healthy.findings.find((f) => f.check === 'kafka-message-size')!.message).toMatch(/^broker message\.max\.bytes \d+; 1 topic limit\(s\) known; .*no pending row is over its limit$/);

    const missing = uniqueName('missing');
    await o.insert(rows(missing, 1, 1));
    // A topic that takes at most 2000 bytes, with one row of 3000 among small ones: the relay would park it as too-large.
    const small = await createTopic(1, 'small', undefined, 1, [{ name: 'max.message.bytes', value: '2000' }]);
    await o.insert([...rows(small, 2, 1), { topic: small, key: 'big', payload: Buffer.alloc(3000, 'b') }]);
    await q(`ALTER TABLE ${o.names.outbox} DISABLE TRIGGER ${o.names.notifyTrigger}`);
    await q(`ALTER TABLE ${o.names.outbox} SET (autovacuum_enabled = false)`);
    const sick = await doctorFindings();
    expect(sick.code).toBe(ExitCode.DOCTOR_PROBLEMS);
    expect(sick.ok).toBe(false);
    expect(sick.findings.filter((f) => f.check === 'kafka-topics')).toEqual([
      {
        check: 'kafka-topics',
        severity: 'fail',
        message: `topic ${missing} has 1 pending row(s) but does not exist`,
        fix: `create it (kafka-topics --create --topic ${missing}); meanwhile its rows wait, and are parked as unknown-topic after OUTBOX_UNKNOWN_TOPIC_DEAD_AFTER_MS`,
      },
    ]);
    // 3000 payload + key + the id and seq headers.
    expect(sick.findings.filter((f) => f.check === 'kafka-message-size' && f.severity === 'fail')).toEqual([
      {
        check: 'kafka-message-size',
        severity: 'fail',
        message: expect.stringMatching(new RegExp(`^1 pending row\\(s\\) of topic ${small} are over the topic's max\\.message\\.bytes 2000 \\(largest 30[4-9]\\d bytes\\): they will be parked as too-large$`)),
        fix: expect.stringContaining(`kafka-configs --alter --entity-type topics --entity-name ${small} --add-config max.message.bytes=`),
      },
    ]);
    expect(severityOf(sick.findings, `topic ${topic}`)).toEqual(['ok']);
    expect(severityOf(sick.findings, `topic ${small}`)).toEqual(['ok']);
    expect(sick.findings.find((f) => f.check === 'wake-up trigger')).toMatchObject({ severity: 'fail', fix: `ALTER TABLE ${o.names.outbox} ENABLE TRIGGER ${o.names.notifyTrigger}` });
    expect(sick.findings.filter((f) => f.check === 'autovacuum' && f.message.includes(o.names.outbox))).toMatchObject([
      { severity: 'fail', fix: `ALTER TABLE ${o.names.outbox} RESET (autovacuum_enabled)` },
    ]);

    // Human output: one line per finding, the fix on the FAIL lines, a summary; exit 6.
    const human = await cli(['doctor']);
    expect(human.code).toBe(ExitCode.DOCTOR_PROBLEMS);
    expect(human.stdout).toMatch(new RegExp(`^FAIL  kafka-topics: topic ${missing} has 1 pending row\\(s\\) but does not exist — fix: create it`, 'm'));
    expect(human.stdout).toMatch(new RegExp(`^FAIL  kafka-message-size: 1 pending row\\(s\\) of topic ${small} are over .* — fix: raise the topic's limit`, 'm'));
    expect(human.stdout).toMatch(/^ok {4}pending index: /m);
    expect(human.stdout).toMatch(/^doctor: \d+ problems? found/m);
  });

  it('doctor: a role without grants and with idle_session_timeout 5s, and Kafka unreachable (one line, exit 6)', async () => {
    const o = fixture.outbox;
    const role = uniqueName('doctor_role');
    await q(`CREATE ROLE ${role} LOGIN`);
    try {
      await q(`GRANT USAGE ON SCHEMA "${o.schema}" TO ${role}; GRANT SELECT ON ${o.names.outbox}, ${o.names.migrations} TO ${role}`);
      await q(`ALTER ROLE ${role} SET idle_session_timeout = '5s'`);
      const url = new URL(o.databaseUrl);
      url.username = role;
      const d = await doctorFindings({ DATABASE_URL: url.toString(), KAFKA_BROKERS: '127.0.0.1:1' });
      expect(d.code).toBe(ExitCode.DOCTOR_PROBLEMS);
      const privileges = d.findings.find((f) => f.check === 'privileges')!;
      expect(privileges.severity).toBe('fail');
      expect(privileges.message).toContain('UPDATE on outbox');
      expect(privileges.message).toContain('INSERT on failures');
      expect(privileges.message).not.toContain('SELECT on outbox');
      expect(privileges.fix).toContain(`GRANT SELECT, UPDATE, DELETE ON ${o.names.outbox} TO "${role}"`);
      expect(d.findings.find((f) => f.check === 'idle_session_timeout')).toMatchObject({
        severity: 'fail',
        message: expect.stringContaining('idle_session_timeout = 5s (from user)'),
        fix: `ALTER ROLE "${role}" SET idle_session_timeout = 0`,
      });
    } finally {
      await q(`DROP OWNED BY ${role}; DROP ROLE ${role}`);
    }
    // Kafka unreachable: the relay's own connect-failure line, and nothing else about Kafka.
    const human = await cli(['doctor'], { KAFKA_BROKERS: '127.0.0.1:1' });
    expect(human.code).toBe(ExitCode.DOCTOR_PROBLEMS);
    expect(human.stdout.split('\n').filter((l) => /^\S+ +(kafka|topic)/.test(l))).toEqual([
      expect.stringMatching(/^FAIL  kafka-brokers: cannot connect to Kafka at 127\.0\.0\.1:1 \(.*ECONNREFUSED.*\): check KAFKA_BROKERS and that the brokers are up$/),
    ]);
  });

  it('replay (mark mode): copies as new pending rows in seq order, same id, replayed-from-seq header; the relay publishes them again', async () => {
    const o = fixture.outbox;
    const topic = await createTopic(2);
    const other = await createTopic(1);
    await o.insert([...rows(topic, 3, 4), ...rows(other, 1, 2)]);
    const relay = fixture.start(new Relay(o.config({ OUTBOX_ON_PUBLISH: 'mark', OUTBOX_POLL_INTERVAL_MS: '200' }), silentLog));
    await waitFor('every row sent', async () => (await o.pendingCount()) === 0);
    // The first 6 rows of the topic were sent 3 hours ago, the other 6 just now.
    await q(`UPDATE ${o.names.outbox} SET sent_at = now() - interval '3 hours' WHERE seq IN (SELECT seq FROM ${o.names.outbox} WHERE topic = $1 ORDER BY seq LIMIT 6)`, [topic]);
    const before = (await q(`SELECT seq, id, key, payload FROM ${o.names.outbox} WHERE topic = $1 ORDER BY seq`, [topic])).rows as { seq: string; id: string; key: string; payload: Buffer }[];

    const dry = await cli(['replay', '--topic', topic, '--since', '1h', '--dry-run', '--json']);
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ matched: 6, replayed: 0, dryRun: true });
    expect(await o.pendingCount()).toBe(0);
    const keyOnly = await cli(['replay', '--topic', topic, '--since', '4h', '--until', '1h', '--key', 'k-1', '--dry-run']);
    expect(keyOnly.stdout).toMatch(/^would replay 2 rows \(topic .*, key k-1, sent from /);

    const maxSeq = Number((await q(`SELECT max(seq) AS m FROM ${o.names.outbox}`)).rows[0].m);
    const r = await cli(['replay', '--topic', topic, '--since', '1h', '--batch-size', '4']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^replayed 6 rows as new pending rows/);
    const copies = (await q(`SELECT seq, id, key, payload, headers FROM ${o.names.outbox} WHERE seq > $1 ORDER BY seq`, [maxSeq])).rows as {
      seq: string;
      id: string;
      key: string;
      payload: Buffer;
      headers: Record<string, string>;
    }[];
    const originals = before.slice(6);
    expect(copies.map((c) => c.id)).toEqual(originals.map((b) => b.id));
    expect(copies.map((c) => c.headers['replayed-from-seq'])).toEqual(originals.map((b) => b.seq));
    expect(copies.map((c) => c.payload.toString())).toEqual(originals.map((b) => b.payload.toString()));

    // The relay publishes the copies: the topic holds 12 + 6 messages, the last 6 the replayed ones in order per key.
    await waitFor('the copies sent', async () => (await o.pendingCount()) === 0);
    const received = await readAll([topic]);
    expect(received).toHaveLength(18);
    const replayed = received.filter((m) => m.headers['replayed-from-seq'] !== undefined);
    expect(replayed.map((m) => m.headers.id).sort()).toEqual(originals.map((b) => b.id).sort());
    for (const key of ['k-0', 'k-1', 'k-2']) {
      const ofKey = received.filter((m) => m.key === key);
      expect(ofKey.slice(-2).map((m) => m.headers['replayed-from-seq'])).toEqual(originals.filter((b) => b.key === key).map((b) => b.seq));
    }
    expect(relay.state).not.toBe('stopped');
  });

  it('replay in delete mode: one line saying nothing is kept, exit 3; bad times exit 2', async () => {
    await fixture.outbox.insert(rows('gamma', 1, 2));
    const r = await cli(['replay', '--topic', 'gamma', '--since', '2h']);
    expect(r.code).toBe(ExitCode.UNAVAILABLE);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^outbox-relay: nothing to replay: .* keeps no sent rows \(with --on-publish=delete, the default, a row is deleted once Kafka has it\); replay works on what a relay running with --on-publish=mark kept\n$/);
    const bad = await cli(['replay', '--topic', 'gamma', '--since', 'yesterday']);
    expect(bad.code).toBe(ExitCode.USAGE);
    expect(bad.stderr).toBe(
      'outbox-relay: --since "yesterday" is invalid: expected an ISO-8601 timestamp (2026-11-30T12:00:00Z; no offset means UTC) or a duration ago (2h, 30m, 7d)\n',
    );
    const backwards = await cli(['replay', '--topic', 'gamma', '--since', '1h', '--until', '2h']);
    expect(backwards.code).toBe(ExitCode.USAGE);
  });

  it('prune walks past a pending head and a young row published out of order to the old rows behind them', async () => {
    const o = fixture.outbox;
    await o.insert(rows('epsilon', 5, 70)); // 350 rows
    // seq order: 150 pending (a dead backlog), 1 sent just now (a dead row retried late), 149 sent two
    // days ago, 50 sent just now.
    const seqs = (await q(`SELECT seq FROM ${o.names.outbox} ORDER BY seq`)).rows.map((r: { seq: string }) => r.seq);
    await q(`UPDATE ${o.names.outbox} SET sent_at = now() - interval '2 days' WHERE seq = ANY($1::bigint[])`, [seqs.slice(151, 300)]);
    await q(`UPDATE ${o.names.outbox} SET sent_at = now() WHERE seq = ANY($1::bigint[])`, [[seqs[150], ...seqs.slice(300)]]);
    const r = await cli(['prune', '--older-than', '1d', '--batch-size', '100', '--max-rows-per-second', '0', '--json']);
    expect(JSON.parse(r.stdout)).toMatchObject({ matched: 149, deleted: 149 });
    const left = (await q(`SELECT count(*) FILTER (WHERE sent_at IS NULL) AS pending, count(*) FILTER (WHERE sent_at IS NOT NULL) AS sent FROM ${o.names.outbox}`)).rows[0];
    expect({ pending: Number(left.pending), sent: Number(left.sent) }).toEqual({ pending: 150, sent: 51 });
  });

  it('a retention round gives up after its fruitless windows behind a long pending stretch; prune walks to the end', async () => {
    const o = fixture.outbox;
    await o.insert(rows('zeta', 4, 300)); // 1200 rows: 1100 pending, then 100 sent two days ago
    await q(`UPDATE ${o.names.outbox} SET sent_at = now() - interval '2 days' WHERE seq IN (SELECT seq FROM ${o.names.outbox} ORDER BY seq DESC LIMIT 100)`);
    const cutoff = new Date(Date.now() - 86_400_000);
    const round = { cutoff, batchSize: 100, maxRowsPerSecond: 0 };
    expect(await pruneSent(o.pool, o.names, { ...round, maxFruitlessWindows: 10 })).toBe(0); // 10 windows of pending rows: gives up
    expect(await pruneSent(o.pool, o.names, round)).toBe(100); // prune's walk: to the end
    expect(await o.pendingCount()).toBe(1100);
  });

  it('prune: deletes only sent rows older than the duration, in batches, rate-limited; --dry-run deletes nothing', async () => {
    const o = fixture.outbox;
    await o.insert(rows('delta', 4, 150)); // 600 rows
    // 450 sent two days ago, 100 sent just now, 50 pending (one of them dead).
    await q(`UPDATE ${o.names.outbox} SET sent_at = now() - interval '2 days' WHERE seq IN (SELECT seq FROM ${o.names.outbox} ORDER BY seq LIMIT 450)`);
    await q(`UPDATE ${o.names.outbox} SET sent_at = now() WHERE seq IN (SELECT seq FROM ${o.names.outbox} WHERE sent_at IS NULL ORDER BY seq LIMIT 100)`);
    await q(`INSERT INTO ${o.names.failures} (seq, key, topic, attempts, error_class, last_error, dead_at) SELECT seq, key, topic, 1, 'refused', 'x', now() FROM ${o.names.outbox} WHERE sent_at IS NULL ORDER BY seq LIMIT 1`);
    const count = async (where: string) => Number((await q(`SELECT count(*) AS n FROM ${o.names.outbox} WHERE ${where}`)).rows[0].n);

    const dry = await cli(['prune', '--older-than', '1d', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^would delete 450 sent rows published before .* \(older than 1d\)\n$/);
    expect(await count('true')).toBe(600);

    const r = await cli(['prune', '--older-than', '1d', '--batch-size', '100', '--max-rows-per-second', '300', '--json']);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as { matched: number; deleted: number; dryRun: boolean; elapsedMs: number };
    expect(result).toMatchObject({ matched: 450, deleted: 450, dryRun: false });
    expect(await count('true')).toBe(150);
    expect(await count('sent_at IS NULL')).toBe(50);
    expect(await count('sent_at IS NOT NULL')).toBe(100);
    // 450 rows at 300 rows/s, in batches of 100: the fifth batch may not start before 400/300 s.
    expect(result.elapsedMs).toBeGreaterThanOrEqual(1300);

    const nothing = await cli(['prune', '--older-than', '1d']);
    expect(nothing.stdout).toMatch(/^deleted 0 sent rows/);
    const bad = await cli(['prune', '--older-than', '7']);
    expect(bad.code).toBe(ExitCode.USAGE);
    expect(bad.stderr).toContain('--older-than "7" is invalid: expected a duration such as 90s');
  });
});
