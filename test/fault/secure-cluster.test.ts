/**
 * Kafka security against a three-broker cluster (stack/cluster.sh with KAFKA_CLUSTER_SECURE=1: three
 * stack/secure-broker.sh nodes, replication factor 3, min.insync.replicas 2, one test CA; started here
 * or reused, stopped afterwards unless SECURE_CLUSTER_KEEP=1). The relay runs as a process over
 * SASL_SSL with SCRAM-SHA-512 and the test CA, hostname verification on, bootstrapping by the name
 * `localhost` while the brokers advertise 127.0.0.1: every produce connection goes to an address the
 * relay learnt from the metadata, not to one it was given.
 *
 * - kill -9 of the partition leader between two waves of rows: the relay follows the leader to a
 *   broker it had not produced to, logs in there, and every row arrives exactly once, in order per
 *   key (read back over SASL_SSL with the same user and CA); the password is never printed.
 * - a wrong password against the cluster: exit 7 with one line.
 * - brokers the metadata names by a host name their certificate does not carry (the "misnamed"
 *   listeners: bootstrap by IP, advertised as localhost, certificates for IP 127.0.0.1 only): the
 *   relay refuses them, publishes nothing, and says why.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { check, writeKeyed } from '../support/checker.js';
import { leaderOf, secureCluster, waitForFullIsr } from '../support/cluster.js';
import { useFixture } from '../support/fixture.js';
import { createTopic, readAll, type KafkaTarget } from '../support/kafka.js';
import { waitFor } from '../support/outbox.js';
import { failIfExits, started, type RelayProcess } from '../support/relay-process.js';
import type { SecureBroker } from '../support/secure-broker.js';

let cluster: SecureBroker;

beforeAll(async () => {
  cluster = await secureCluster.up();
}, 300_000);

afterAll(async () => {
  if (process.env.SECURE_CLUSTER_KEEP !== '1') await secureCluster.down();
}, 120_000);

const output = (p: RelayProcess) => `${p.logs.map((l) => JSON.stringify(l)).join('\n')}\n${p.stderr()}`;
/** The same listeners by the name localhost (in the certificates' SAN, like 127.0.0.1). */
const byName = (list: string) => list.replaceAll('127.0.0.1:', 'localhost:');

describe('Kafka security on a three-broker cluster', () => {
  const fixture = useFixture();
  const ca = () => join(cluster.certs, 'ca.pem');
  const scram = () => cluster.users.scram512;
  /** The relay's settings for SASL_SSL + SCRAM-SHA-512 against these brokers. */
  const relayEnv = (brokers: string, password = scram().password) => ({
    KAFKA_BROKERS: brokers,
    KAFKA_SSL: 'true',
    KAFKA_SSL_CA_FILE: ca(),
    KAFKA_SASL_MECHANISM: 'scram-sha-512',
    KAFKA_SASL_USERNAME: scram().user,
    KAFKA_SASL_PASSWORD: password,
    LOG_LEVEL: 'trace',
  });
  /** The test's own clients with the same settings as the relay (kafkajs, over SASL_SSL). */
  const asRelay = (): KafkaTarget => ({
    brokers: byName(cluster.saslSsl),
    ssl: { ca: [readFileSync(ca(), 'utf8')], rejectUnauthorized: true },
    sasl: { mechanism: 'scram-sha-512', username: scram().user, password: scram().password },
  });

  it('refused: a wrong SCRAM-SHA-512 password against the cluster (exit 7, one line, no secret printed)', async () => {
    const relay = fixture.spawn(relayEnv(byName(cluster.saslSsl), 'wrong-cluster-secret'));
    const { code } = await relay.exited;
    expect(code).toBe(ExitCode.KAFKA_REFUSED);
    expect(relay.stderr()).toMatch(
      /^outbox-relay: Kafka refused the SASL\/SCRAM-SHA-512 login for user "scram512" \(SASL_AUTHENTICATION_FAILED\): check KAFKA_SASL_USERNAME \/ KAFKA_SASL_PASSWORD\n$/,
    );
    expect(output(relay)).not.toContain('wrong-cluster-secret');
  });

  it('kill -9 of the partition leader: the relay logs in to the new leader, every row exactly once, in order per key', async () => {
    const topic = await createTopic(1, 'seccluster', cluster.admin, 3);
    expect((await waitForFullIsr(cluster.admin, topic))[0]!.replicas).toHaveLength(3);
    const relay = fixture.spawn({ ...relayEnv(byName(cluster.saslSsl)), OUTBOX_POLL_INTERVAL_MS: '100' });
    await Promise.race([relay.waitForLog(started), failIfExits(relay)]);
    const drained = (what: string) =>
      Promise.race([waitFor(what, async () => (await fixture.outbox.pendingCount()) === 0, 120_000, 100), failIfExits(relay)]);

    const insert = (rows: Parameters<typeof fixture.outbox.insert>[0]) => fixture.outbox.insert(rows);
    const before = await writeKeyed(insert, topic, { keys: 10, perKey: 20, rowsPerTx: 50 });
    await drained('the first wave to drain');

    const leader = await leaderOf(cluster.admin, topic, 0);
    await secureCluster.kill(leader);
    // Written at once: the relay's next sends meet the dead leader until the controller moves it.
    const after = await writeKeyed(insert, topic, { keys: 10, perKey: 20, rowsPerTx: 50, from: 20 });
    await drained('the second wave to drain');
    const moved = await leaderOf(cluster.admin, topic, 0);
    expect(moved, 'a new leader').not.toBe(leader);
    // The second wave's first sends went to the dead leader (kafkajs logs each refused connection).
    const dead = cluster.saslSsl.split(',')[leader - 1];
    expect(relay.logs.some((l) => l.broker === dead && /Connection error/.test(l.msg)), `the relay met the dead leader ${dead}`).toBe(true);

    const received = await readAll([topic], 60_000, asRelay());
    const result = check([...before, ...after], received);
    console.log(`secure cluster: ${before.length + after.length} rows, ${received.length} messages, leader ${leader} killed, new leader ${moved}`);
    expect(result.lost).toEqual([]);
    expect(result.duplicates).toBe(0);
    expect(result.orderViolations).toEqual([]);
    expect(result.unexpected).toEqual([]);
    expect(relay.child.exitCode, 'the relay is still running').toBeNull();
    expect(output(relay)).not.toContain(scram().password);
  }, 240_000);

  it('refused: brokers the metadata names by a host name their certificates do not carry (exit 7, one line naming the broker, nothing published)', async () => {
    const topic = await createTopic(1, 'misnamed', cluster.admin, 3);
    await fixture.outbox.insert([{ topic, key: 'k', payload: Buffer.from('must not arrive') }]);
    // Bootstrap by IP (the certificates' only name): the metadata then names every broker localhost.
    const relay = fixture.spawn(relayEnv(cluster.misnamed));
    const published = relay.waitForLog((l) => l.msg === 'batch published', 60_000).then(
      (l) => ({ published: l.msg }),
      () => relay.exited, // it exited (or never published, nor exited, and the test times out)
    );
    const outcome = await Promise.race([relay.exited, published]);
    expect(outcome, 'the relay exits without publishing').toEqual({ code: ExitCode.KAFKA_REFUSED, signal: null });
    expect(relay.stderr()).toMatch(
      /^outbox-relay: TLS connection to Kafka broker localhost:29[345]96 \(named by the cluster's metadata, not in KAFKA_BROKERS\) failed \(ERR_TLS_CERT_ALTNAME_INVALID\): the broker's certificate is not for the host name the cluster advertises for it: make the brokers' advertised\.listeners use names their certificates carry, or set KAFKA_SSL_SERVERNAME\n$/,
    );
    expect(await fixture.outbox.pendingCount()).toBe(1);
    expect(output(relay)).not.toContain(scram().password);
  });
});
