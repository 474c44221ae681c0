/**
 * Kafka security against a real broker (stack/secure-broker.sh, started here): every security mode
 * publishes with good credentials, and every kind of bad credential or TLS mistake ends the relay
 * with exit 7 and ONE line that names the mechanism and the setting to fix, with no secret in any
 * output. Listeners: SASL_SSL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER), SSL with
 * ssl.client.auth=required, SASL_PLAINTEXT; the test reads back through a plaintext admin listener.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { useFixture } from '../support/fixture.js';
import { createTopic, readAll } from '../support/kafka.js';
import { silentLog, waitFor } from '../support/outbox.js';
import { Relay } from '../../src/relay/relay.js';
import { failIfExits, runCommand, type RelayProcess } from '../support/relay-process.js';
import type { Finding } from '../../src/commands/doctor.js';
import { secureBrokerDown, secureBrokerUp, unsecuredJwt, type SecureBroker } from '../support/secure-broker.js';

let broker: SecureBroker;
const dir = mkdtempSync(join(tmpdir(), 'outbox-relay-security-'));
/** A file holding `text` (e.g. a password for a _FILE setting), with a trailing newline. */
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, `${text}\n`);
  return path;
}
const output = (p: RelayProcess) => `${p.logs.map((l) => JSON.stringify(l)).join('\n')}\n${p.stderr()}`;

beforeAll(async () => {
  broker = await secureBrokerUp();
}, 240_000);

afterAll(async () => {
  if (process.env.SECURE_BROKER_KEEP !== '1') await secureBrokerDown();
}, 60_000);

describe('Kafka security modes', () => {
  const fixture = useFixture();

  /** Ten rows to a fresh topic through the relay with these settings; all must arrive. */
  async function publishes(env: Record<string, string>): Promise<RelayProcess> {
    const topic = await createTopic(1, 'sec', broker.admin);
    await fixture.outbox.insert(Array.from({ length: 10 }, (_, i) => ({ topic, key: `k${i % 3}`, payload: Buffer.from(`{"n":${i}}`) })));
    const relay = fixture.spawn({ OUTBOX_POLL_INTERVAL_MS: '100', ...env });
    await Promise.race([waitFor('the outbox to drain', async () => (await fixture.outbox.pendingCount()) === 0, 60_000), failIfExits(relay)]);
    const got = await readAll([topic], 30_000, broker.admin);
    expect(got.map((m) => m.value.toString())).toEqual(expect.arrayContaining(Array.from({ length: 10 }, (_, i) => `{"n":${i}}`)));
    return relay;
  }

  const ca = () => join(broker.certs, 'ca.pem');

  it('SASL_SSL SCRAM-SHA-256, password from a _FILE', async () => {
    const { user, password } = broker.users.scram256;
    const relay = await publishes({
      KAFKA_BROKERS: broker.saslSsl,
      KAFKA_SSL: 'true',
      KAFKA_SSL_CA_FILE: ca(),
      KAFKA_SASL_MECHANISM: 'scram-sha-256',
      KAFKA_SASL_USERNAME: user,
      KAFKA_SASL_PASSWORD_FILE: file('scram256.pass', password),
      LOG_LEVEL: 'trace',
    });
    const connected = await relay.waitForLog((l) => l.msg === 'connected to Kafka');
    expect(connected.security).toBe('SASL/SCRAM-SHA-256 over TLS');
    expect(JSON.stringify(relay.logs.find((l) => l.msg === 'starting outbox-relay'))).toContain('"kafkaSaslPassword":"***"');
    expect(output(relay)).not.toContain(password);
  });

  it('SASL_SSL SCRAM-SHA-512', async () => {
    const { user, password } = broker.users.scram512;
    await publishes({ KAFKA_BROKERS: broker.saslSsl, KAFKA_SSL_CA_FILE: ca(), KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: user, KAFKA_SASL_PASSWORD: password });
  });

  it('SASL_SSL PLAIN', async () => {
    const { user, password } = broker.users.plain;
    await publishes({ KAFKA_BROKERS: broker.saslSsl, KAFKA_SSL_CA_FILE: ca(), KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: user, KAFKA_SASL_PASSWORD: password });
  });

  it('SASL_SSL OAUTHBEARER, token from a file', async () => {
    const token = unsecuredJwt('relay-oauth', 3600);
    const relay = await publishes({
      KAFKA_BROKERS: broker.saslSsl,
      KAFKA_SSL_CA_FILE: ca(),
      KAFKA_SASL_MECHANISM: 'oauthbearer',
      KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: file('token.jwt', token),
      LOG_LEVEL: 'trace',
    });
    expect(output(relay)).not.toContain(token);
  });

  it('SASL_PLAINTEXT OAUTHBEARER, token from a command', async () => {
    const tokenFile = file('token-cmd.jwt', unsecuredJwt('relay-oauth-cmd', 3600));
    await publishes({ KAFKA_BROKERS: broker.saslPlaintext, KAFKA_SASL_MECHANISM: 'oauthbearer', KAFKA_SASL_OAUTHBEARER_TOKEN_COMMAND: `cat '${tokenFile}'` });
  });

  it('OAUTHBEARER: a token is fetched again before it expires, and the live connection re-authenticates with it', async () => {
    // Tokens live 35 s; the SASL_PLAINTEXT listener makes OAUTHBEARER sessions re-authenticate every
    // 20 s. Rows written after the first token expired must still flow on the same relay.
    const calls = join(dir, 'token-calls');
    const lifetime = 35;
    const script = file(
      'token.sh',
      `echo call >> '${calls}'\nnode -e "const b=(o)=>Buffer.from(JSON.stringify(o)).toString('base64url');const n=Math.floor(Date.now()/1000);console.log(b({alg:'none'})+'.'+b({sub:'relay-reauth',iat:n,exp:n+${lifetime}})+'.')"`,
    );
    const started = Date.now();
    const relay = await publishes({ KAFKA_BROKERS: broker.saslPlaintext, KAFKA_SASL_MECHANISM: 'oauthbearer', KAFKA_SASL_OAUTHBEARER_TOKEN_COMMAND: `sh '${script}'` });
    // The first token has expired: wait for the clock, not for the relay.
    await waitFor('the first token to expire', async () => Date.now() > started + (lifetime + 2) * 1000, (lifetime + 10) * 1000, 500);
    const topic = await createTopic(1, 'reauth', broker.admin);
    await fixture.outbox.insert(Array.from({ length: 5 }, (_, i) => ({ topic, key: 'k', payload: Buffer.from(`late ${i}`) })));
    await Promise.race([waitFor('the late rows to drain', async () => (await fixture.outbox.pendingCount()) === 0, 30_000), failIfExits(relay)]);
    expect((await readAll([topic], 30_000, broker.admin)).map((m) => m.value.toString())).toEqual(['late 0', 'late 1', 'late 2', 'late 3', 'late 4']);
    expect(readFileSync(calls, 'utf8').trim().split('\n').length).toBeGreaterThanOrEqual(2);
  }, 120_000);

  it('mutual TLS, encrypted client key with its passphrase from a _FILE', async () => {
    await publishes({
      KAFKA_BROKERS: broker.mtls,
      KAFKA_SSL_CA_FILE: ca(),
      KAFKA_SSL_CERT_FILE: join(broker.certs, 'client.pem'),
      KAFKA_SSL_KEY_FILE: join(broker.certs, 'client.enc.key'),
      KAFKA_SSL_KEY_PASSWORD_FILE: join(broker.certs, 'client-key.pass'),
    });
  });

  it('refused: each bad credential or TLS mistake exits 7 with one line naming the fix, no secret printed', async () => {
    const scram = broker.users.scram512;
    const cases: [string, Record<string, string>, RegExp][] = [
      [
        'wrong SCRAM-SHA-512 password',
        { KAFKA_BROKERS: broker.saslSsl, KAFKA_SSL_CA_FILE: ca(), KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: scram.user, KAFKA_SASL_PASSWORD: 'wrong-secret-512' },
        /^outbox-relay: Kafka refused the SASL\/SCRAM-SHA-512 login for user "scram512" \(SASL_AUTHENTICATION_FAILED\): check KAFKA_SASL_USERNAME \/ KAFKA_SASL_PASSWORD\n$/,
      ],
      [
        'unknown SCRAM-SHA-256 user',
        { KAFKA_BROKERS: broker.saslSsl, KAFKA_SSL_CA_FILE: ca(), KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_USERNAME: 'nobody', KAFKA_SASL_PASSWORD: 'wrong-secret-256' },
        /^outbox-relay: Kafka refused the SASL\/SCRAM-SHA-256 login for user "nobody" \(SASL_AUTHENTICATION_FAILED\): check KAFKA_SASL_USERNAME \/ KAFKA_SASL_PASSWORD\n$/,
      ],
      [
        'wrong PLAIN password',
        { KAFKA_BROKERS: broker.saslPlaintext, KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: broker.users.plain.user, KAFKA_SASL_PASSWORD: 'wrong-secret-plain' },
        /^outbox-relay: Kafka refused the SASL\/PLAIN login for user "plainuser" \(SASL_AUTHENTICATION_FAILED\): check KAFKA_SASL_USERNAME \/ KAFKA_SASL_PASSWORD\n$/,
      ],
      [
        'expired OAUTHBEARER token (never sent)',
        { KAFKA_BROKERS: broker.saslPlaintext, KAFKA_SASL_MECHANISM: 'oauthbearer', KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: file('expired.jwt', unsecuredJwt('relay', -60)) },
        /^outbox-relay: cannot get an OAUTHBEARER token from KAFKA_SASL_OAUTHBEARER_TOKEN_FILE .*expired\.jwt: the token expired at \S+: renew it\n$/,
      ],
      [
        'OAUTHBEARER token the broker rejects (no sub claim)',
        { KAFKA_BROKERS: broker.saslSsl, KAFKA_SSL_CA_FILE: ca(), KAFKA_SASL_MECHANISM: 'oauthbearer', KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: file('nosub.jwt', unsecuredJwt('', 3600)) },
        /^outbox-relay: Kafka closed the connection during the SASL\/OAUTHBEARER login \(it rejects the token\): check the token from KAFKA_SASL_OAUTHBEARER_TOKEN_FILE .*\n$/,
      ],
      [
        'failing OAUTHBEARER token command',
        { KAFKA_BROKERS: broker.saslPlaintext, KAFKA_SASL_MECHANISM: 'oauthbearer', KAFKA_SASL_OAUTHBEARER_TOKEN_COMMAND: 'echo no token for you >&2; exit 3' },
        /^outbox-relay: cannot get an OAUTHBEARER token from KAFKA_SASL_OAUTHBEARER_TOKEN_COMMAND: the command exited with 3: no token for you\n$/,
      ],
      [
        'broker certificate from an unknown CA (no KAFKA_SSL_CA_FILE)',
        { KAFKA_BROKERS: broker.saslSsl, KAFKA_SSL: 'true', KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: scram.user, KAFKA_SASL_PASSWORD: scram.password },
        /^outbox-relay: TLS connection to Kafka at 127\.0\.0\.1:\d+ failed \((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)\): the broker's certificate is not signed by a trusted CA: set KAFKA_SSL_CA_FILE to the CA that signed it\n$/,
      ],
      [
        'host name not in the broker certificate',
        { KAFKA_BROKERS: broker.saslSsl, KAFKA_SSL_CA_FILE: ca(), KAFKA_SSL_SERVERNAME: 'kafka.example.com', KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: scram.user, KAFKA_SASL_PASSWORD: scram.password },
        /^outbox-relay: TLS connection to Kafka at .* failed \(ERR_TLS_CERT_ALTNAME_INVALID\): the broker's certificate is not for this host name: .*KAFKA_SSL_SERVERNAME\n$/,
      ],
      [
        'mutual TLS without a client certificate',
        { KAFKA_BROKERS: broker.mtls, KAFKA_SSL_CA_FILE: ca() },
        /^outbox-relay: TLS connection to Kafka at .* failed \(.*\): the broker requires a client certificate \(mutual TLS\): set KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE\n$/,
      ],
      [
        'mutual TLS with a client certificate from a CA the broker does not trust',
        { KAFKA_BROKERS: broker.mtls, KAFKA_SSL_CA_FILE: ca(), KAFKA_SSL_CERT_FILE: join(broker.certs, 'stranger.pem'), KAFKA_SSL_KEY_FILE: join(broker.certs, 'stranger.key') },
        /^outbox-relay: .*does not accept the client certificate.*\n$/,
      ],
      [
        'idempotent writes denied by ACL',
        { KAFKA_BROKERS: broker.saslSsl, KAFKA_SSL_CA_FILE: ca(), KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: broker.users.noidem.user, KAFKA_SASL_PASSWORD: broker.users.noidem.password },
        /^outbox-relay: Kafka does not allow idempotent writes for User:noidem \(CLUSTER_AUTHORIZATION_FAILED on InitProducerId\): grant IdempotentWrite on the cluster .*\n$/,
      ],
    ];
    const secrets = ['wrong-secret-512', 'wrong-secret-256', 'wrong-secret-plain', scram.password, broker.users.noidem.password];
    const results = await Promise.all(
      cases.map(async ([what, env, line]) => {
        const relay = fixture.spawn({ LOG_LEVEL: 'trace', ...env });
        const { code } = await relay.exited;
        return { what, code, stderr: relay.stderr(), line, leaked: secrets.filter((s) => output(relay).includes(s)) };
      }),
    );
    // Every case that went wrong, at once: its exit code, the secrets it printed, its stderr.
    const wrong = results.filter((r) => r.code !== ExitCode.KAFKA_REFUSED || r.leaked.length > 0 || !r.line.test(r.stderr));
    expect(wrong.map(({ what, code, leaked, stderr }) => ({ what, code, leaked, stderr }))).toEqual([]);
  });

  it('a secret _FILE that cannot be read: exit 2 with one line', async () => {
    const relay = fixture.spawn({ KAFKA_BROKERS: broker.saslSsl, KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD_FILE: join(dir, 'missing.pass') });
    expect((await relay.exited).code).toBe(ExitCode.USAGE);
    expect(relay.stderr()).toMatch(/^outbox-relay: invalid configuration: cannot read KAFKA_SASL_PASSWORD_FILE .*missing\.pass \(ENOENT\): check the path.*\n$/);
  });
});

describe('compression', () => {
  const fixture = useFixture();

  it('gzip, lz4, zstd and snappy batches are written with their codec and decoded by Kafka itself', async () => {
    const codecs = ['gzip', 'lz4', 'zstd', 'snappy'] as const;
    const topics: Record<string, string> = {};
    for (const codec of codecs) {
      const topic = await createTopic(1, `z_${codec}`, broker.admin);
      topics[codec] = topic;
      await fixture.outbox.insert(Array.from({ length: 20 }, (_, i) => ({ topic, key: `k${i % 4}`, payload: Buffer.from(`{"codec":"${codec}","n":${i},"pad":"${'x'.repeat(150)}"}`) })));
      const relay = fixture.start(new Relay(fixture.outbox.config({ KAFKA_BROKERS: broker.admin, KAFKA_COMPRESSION: codec, OUTBOX_POLL_INTERVAL_MS: '50' }), silentLog));
      await waitFor(`the ${codec} rows to drain`, async () => (await fixture.outbox.pendingCount()) === 0, 30_000);
      await relay.stop();
    }
    // Kafka's DumpLogSegments reads the segments with Kafka's own codecs (lz4-java, zstd-jni, snappy-java).
    const { stdout } = await promisify(execFile)('bash', ['stack/secure-broker.sh', 'dump', ...Object.values(topics)], { timeout: 60_000, maxBuffer: 20 * 1024 * 1024 });
    for (const codec of codecs) {
      const section = stdout.slice(stdout.indexOf(`${topics[codec]}-0`));
      const batches = [...section.slice(0, nextDump(section)).matchAll(/compresscodec: (\w+)/g)].map((m) => m[1]!.toLowerCase());
      expect(batches.length, codec).toBeGreaterThan(0);
      expect(new Set(batches), codec).toEqual(new Set([codec]));
      const payloads = [...section.slice(0, nextDump(section)).matchAll(/payload: (\{.*\})/g)].map((m) => JSON.parse(m[1]!) as { codec: string; n: number });
      expect(payloads.map((p) => p.n).sort((a, b) => a - b), codec).toEqual(Array.from({ length: 20 }, (_, i) => i));
      expect(new Set(payloads.map((p) => p.codec)), codec).toEqual(new Set([codec]));
    }
  });
});

describe('doctor over the secured listeners', () => {
  const fixture = useFixture();
  /** doctor's Kafka findings, run as the CLI with these settings. */
  async function doctorKafka(env: Record<string, string>): Promise<{ code: number | null; stdout: string; kafka: Finding[] }> {
    const r = await runCommand(['doctor', '--json'], { ...fixture.outbox.env, ...env });
    const findings = (JSON.parse(r.stdout) as { findings: Finding[] }).findings;
    return { code: r.code, stdout: r.stdout + r.stderr, kafka: findings.filter((f) => f.check.startsWith('kafka') || f.check.startsWith('topic')) };
  }

  it('doctor connects with the relay\'s TLS/SASL settings: SCRAM over TLS passes the preflight; a wrong password and a principal without IdempotentWrite are one FAIL line each, exit 6', async () => {
    const topic = await createTopic(1, 'doctor', broker.admin);
    await fixture.outbox.insert([{ topic, key: 'k', payload: Buffer.from('{}') }]);
    const { user, password } = broker.users.scram512;
    const scram = { KAFKA_BROKERS: broker.saslSsl, KAFKA_SSL_CA_FILE: join(broker.certs, 'ca.pem'), KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: user, KAFKA_SASL_PASSWORD: password };

    const good = await doctorKafka(scram);
    expect(good.kafka.map((f) => `${f.severity} ${f.check}`)).toEqual(['ok kafka-brokers', 'ok kafka-api-versions', 'ok kafka-idempotence', 'ok kafka-topics', 'ok kafka-message-size', `ok topic ${topic}`]);
    expect(good.kafka[0]!.message).toMatch(/^Kafka at \S+ answers \(SASL\/SCRAM-SHA-512 over TLS\): 1 broker\(s\)/);

    const wrong = await doctorKafka({ ...scram, KAFKA_SASL_PASSWORD: 'wrong-secret-doctor' });
    expect(wrong.code).toBe(ExitCode.DOCTOR_PROBLEMS);
    expect(wrong.kafka).toEqual([
      {
        check: 'kafka-brokers',
        severity: 'fail',
        message: `Kafka refused the SASL/SCRAM-SHA-512 login for user "${user}" (SASL_AUTHENTICATION_FAILED): check KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD`,
      },
    ]);
    expect(wrong.stdout).not.toContain('wrong-secret-doctor');

    const noidem = await doctorKafka({ ...scram, KAFKA_SASL_USERNAME: broker.users.noidem.user, KAFKA_SASL_PASSWORD: broker.users.noidem.password });
    expect(noidem.code).toBe(ExitCode.DOCTOR_PROBLEMS);
    expect(noidem.kafka).toEqual([
      {
        check: 'kafka-idempotence',
        severity: 'fail',
        message: expect.stringMatching(/^Kafka does not allow idempotent writes for User:noidem \(CLUSTER_AUTHORIZATION_FAILED on InitProducerId\): grant IdempotentWrite on the cluster/),
      },
    ]);
  });
});

/** Where the next file's section of a DumpLogSegments output starts (after the first line). */
function nextDump(section: string): number {
  const i = section.indexOf('Dumping ', 1);
  return i < 0 ? section.length : i;
}
