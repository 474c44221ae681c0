import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kafkaSecurityProblems, loadConfig, loggableConfig } from '../../src/config.js';
import { ConfigError, ExitCode } from '../../src/errors.js';
import { NO_SECURITY, connectFailure, jwtExpiry, kafkaSecurity, refreshAt, tlsEnabled, tokenSource, TOKEN_REREAD_MS, type SecuritySettings } from '../../src/publisher/security.js';

const base = { DATABASE_URL: 'postgres://u@127.0.0.1:5432/db', KAFKA_BROKERS: 'kafka-1.example.com:9093' };
const none: SecuritySettings = { ...NO_SECURITY, kafkaBrokers: ['kafka-1.example.com:9093'] };
const scram: SecuritySettings = { ...none, kafkaSsl: true, kafkaSaslMechanism: 'scram-sha-512', kafkaSaslUsername: 'relay', kafkaSaslPassword: 'pw' };

function jwt(claims: object): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'none' })}.${b64(claims)}.`;
}

function tmpFile(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'outbox-relay-sec-')), 'f');
  writeFileSync(path, text);
  return path;
}

describe('kafka security options', () => {
  it('turns TLS on for KAFKA_SSL or any TLS file or name, and off otherwise', () => {
    expect(tlsEnabled(none)).toBe(false);
    expect(tlsEnabled({ ...none, kafkaSsl: true })).toBe(true);
    expect(tlsEnabled({ ...none, kafkaSslCaFile: '/ca.pem' })).toBe(true);
    expect(tlsEnabled({ ...none, kafkaSslServername: 'kafka' })).toBe(true);
    expect(kafkaSecurity(none)).toMatchObject({ describe: 'PLAINTEXT' });
    expect(kafkaSecurity(none).ssl).toBeUndefined();
    expect(kafkaSecurity(none).sasl).toBeUndefined();
  });

  it('builds the TLS options from the files, verifying certificates', () => {
    const read = (path: string) => `content of ${path}`;
    const s = kafkaSecurity(
      { ...none, kafkaSslCaFile: '/ca.pem', kafkaSslCertFile: '/c.pem', kafkaSslKeyFile: '/k.pem', kafkaSslKeyPassword: 'kp', kafkaSslServername: 'kafka.internal' },
      { readFile: read },
    );
    expect(s.ssl).toEqual({ rejectUnauthorized: true, ca: 'content of /ca.pem', cert: 'content of /c.pem', key: 'content of /k.pem', passphrase: 'kp', servername: 'kafka.internal' });
    expect(s.describe).toBe('mutual TLS');
  });

  it('reports an unreadable TLS file as a ConfigError (exit 2) naming the setting', () => {
    expect(() => kafkaSecurity({ ...none, kafkaSslCaFile: '/does/not/exist.pem' })).toThrow(ConfigError);
    expect(() => kafkaSecurity({ ...none, kafkaSslCaFile: '/does/not/exist.pem' })).toThrow(/^cannot read KAFKA_SSL_CA_FILE \/does\/not\/exist\.pem \(ENOENT\)/);
  });

  it('passes PLAIN and SCRAM credentials, and an OAUTHBEARER provider over the token source', async () => {
    expect(kafkaSecurity(scram).sasl).toEqual({ mechanism: 'scram-sha-512', username: 'relay', password: 'pw' });
    expect(kafkaSecurity(scram).describe).toBe('SASL/SCRAM-SHA-512 over TLS');
    expect(kafkaSecurity({ ...none, kafkaSaslMechanism: 'plain', kafkaSaslUsername: 'u', kafkaSaslPassword: 'p' }).sasl).toMatchObject({ mechanism: 'plain' });
    const oauth = kafkaSecurity({ ...none, kafkaSaslMechanism: 'oauthbearer', kafkaSaslOauthbearerTokenCommand: 'x' }, { token: async () => 'tok' });
    expect(oauth.tokenRequested()).toBe(false);
    const sasl = oauth.sasl as { mechanism: string; oauthBearerProvider: () => Promise<{ value: string }> };
    expect(sasl.mechanism).toBe('oauthbearer');
    expect(await sasl.oauthBearerProvider()).toEqual({ value: 'tok' });
    expect(oauth.tokenRequested()).toBe(true);
  });
});

describe('OAUTHBEARER tokens', () => {
  it('reads exp from a JWT, and nothing from other tokens', () => {
    expect(jwtExpiry(jwt({ exp: 2000 }))).toBe(2_000_000);
    expect(jwtExpiry(jwt({ sub: 'x' }))).toBeUndefined();
    expect(jwtExpiry('opaque-token')).toBeUndefined();
    expect(jwtExpiry('a.!!!.c')).toBeUndefined();
  });

  it('refreshes at 80% of the lifetime, at the latest 30 s before exp; without exp after a minute', () => {
    const t0 = 1_000_000_000_000;
    expect(refreshAt(jwt({ exp: (t0 + 3_600_000) / 1000 }), t0)).toBe(t0 + 2_880_000);
    expect(refreshAt(jwt({ exp: (t0 + 100_000) / 1000 }), t0)).toBe(t0 + 70_000);
    expect(refreshAt(jwt({ exp: (t0 + 10_000) / 1000 }), t0)).toBe(t0);
    expect(refreshAt('opaque', t0)).toBe(t0 + TOKEN_REREAD_MS);
  });

  it('caches the token until its refresh time, then fetches a new one; concurrent callers share one fetch', async () => {
    let clock = 1_000_000_000_000;
    let fetches = 0;
    const source = tokenSource(
      {
        what: 'test',
        fetch: async () => {
          fetches += 1;
          return jwt({ n: fetches, exp: (clock + 100_000) / 1000 });
        },
      },
      () => clock,
    );
    const [a, b] = await Promise.all([source.get(), source.get()]);
    expect(a).toBe(b);
    expect(fetches).toBe(1);
    clock += 69_000;
    expect(await source.get()).toBe(a);
    expect(fetches).toBe(1);
    clock += 1_000;
    const c = await source.get();
    expect(fetches).toBe(2);
    expect(c).not.toBe(a);
  });

  it('refuses an expired or empty token, naming the source and never the token', async () => {
    const expired = jwt({ sub: 'x', exp: 1000 });
    await expect(tokenSource({ what: 'KAFKA_SASL_OAUTHBEARER_TOKEN_FILE /t', fetch: async () => expired }).get()).rejects.toThrow(
      /^cannot get an OAUTHBEARER token from KAFKA_SASL_OAUTHBEARER_TOKEN_FILE \/t: the token expired at 1970-01-01T00:16:40\.000Z: renew it$/,
    );
    await expect(tokenSource({ what: 'X', fetch: async () => '' }).get()).rejects.toThrow(/: it is empty$/);
    await expect(tokenSource({ what: 'X', fetch: async () => Promise.reject(new Error('boom')) }).get()).rejects.toThrow(/^cannot get an OAUTHBEARER token from X: boom$/);
  });

  it('reads the token from a file or from a command (trimmed), through the settings', async () => {
    const file = tmpFile('file-token\n');
    const fromFile = kafkaSecurity({ ...none, kafkaSaslMechanism: 'oauthbearer', kafkaSaslOauthbearerTokenFile: file }).sasl as { oauthBearerProvider: () => Promise<{ value: string }> };
    expect(await fromFile.oauthBearerProvider()).toEqual({ value: 'file-token' });
    const fromCommand = kafkaSecurity({ ...none, kafkaSaslMechanism: 'oauthbearer', kafkaSaslOauthbearerTokenCommand: 'echo "  cmd-token  "' }).sasl as {
      oauthBearerProvider: () => Promise<{ value: string }>;
    };
    expect(await fromCommand.oauthBearerProvider()).toEqual({ value: 'cmd-token' });
    const failing = kafkaSecurity({ ...none, kafkaSaslMechanism: 'oauthbearer', kafkaSaslOauthbearerTokenCommand: 'echo nope >&2; exit 4' }).sasl as {
      oauthBearerProvider: () => Promise<{ value: string }>;
    };
    await expect(failing.oauthBearerProvider()).rejects.toThrow(/KAFKA_SASL_OAUTHBEARER_TOKEN_COMMAND: the command exited with 4: nope$/);
  });
});

describe('connect failures', () => {
  const saslError = Object.assign(new Error('SASL SCRAM SHA512 authentication failed: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512'), {
    name: 'KafkaJSSASLAuthenticationError',
  });
  const wrapped = (inner: unknown) => Object.assign(new Error('retries exceeded'), { name: 'KafkaJSNumberOfRetriesExceeded', originalError: inner });
  const tlsError = (code: string) => Object.assign(new Error(`Connection error: ${code}`), { name: 'KafkaJSConnectionError', code });

  it('a refused SASL login: exit 7, naming mechanism, user and settings', () => {
    const exit = connectFailure(wrapped(saslError), scram);
    expect(exit.exitCode).toBe(ExitCode.KAFKA_REFUSED);
    expect(exit.message).toBe('Kafka refused the SASL/SCRAM-SHA-512 login for user "relay" (SASL_AUTHENTICATION_FAILED): check KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD');
  });

  it('idempotent writes not allowed: exit 7 with the ACL that fixes it', () => {
    const err = wrapped(Object.assign(new Error('Cluster authorization failed'), { type: 'CLUSTER_AUTHORIZATION_FAILED' }));
    const exit = connectFailure(err, scram);
    expect(exit.exitCode).toBe(ExitCode.KAFKA_REFUSED);
    expect(exit.message).toMatch(/^Kafka does not allow idempotent writes for User:relay .*--operation IdempotentWrite --cluster/);
  });

  it.each([
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', /set KAFKA_SSL_CA_FILE/],
    ['SELF_SIGNED_CERT_IN_CHAIN', /set KAFKA_SSL_CA_FILE/],
    ['ERR_TLS_CERT_ALTNAME_INVALID', /KAFKA_SSL_SERVERNAME/],
    ['CERT_HAS_EXPIRED', /expired/],
    ['ERR_SSL_WRONG_VERSION_NUMBER', /does not speak TLS on this port/],
  ])('TLS %s: exit 7 with its fix', (code, fix) => {
    const exit = connectFailure(wrapped(tlsError(code)), scram);
    expect(exit.exitCode).toBe(ExitCode.KAFKA_REFUSED);
    expect(exit.message).toMatch(new RegExp(`^TLS connection to Kafka at kafka-1\\.example\\.com:9093 failed \\(${code}\\): `));
    expect(exit.message).toMatch(fix);
  });

  it('a TLS failure at a broker the metadata named (not in KAFKA_BROKERS) names that broker; a wrong name points at advertised.listeners', () => {
    const learnt = (code: string, broker: string) => wrapped(Object.assign(tlsError(code), { broker }));
    const altname = connectFailure(learnt('ERR_TLS_CERT_ALTNAME_INVALID', 'kafka-2.internal:9093'), scram);
    expect(altname.exitCode).toBe(ExitCode.KAFKA_REFUSED);
    expect(altname.message).toBe(
      "TLS connection to Kafka broker kafka-2.internal:9093 (named by the cluster's metadata, not in KAFKA_BROKERS) failed (ERR_TLS_CERT_ALTNAME_INVALID): the broker's certificate is not for the host name the cluster advertises for it: make the brokers' advertised.listeners use names their certificates carry, or set KAFKA_SSL_SERVERNAME",
    );
    expect(connectFailure(learnt('SELF_SIGNED_CERT_IN_CHAIN', 'kafka-2.internal:9093'), scram).message).toMatch(
      /^TLS connection to Kafka broker kafka-2\.internal:9093 \(named by .*\): the broker's certificate is not signed by a trusted CA: set KAFKA_SSL_CA_FILE/,
    );
    // The bootstrap broker itself: the fix is in KAFKA_BROKERS.
    expect(connectFailure(learnt('ERR_TLS_CERT_ALTNAME_INVALID', 'kafka-1.example.com:9093'), scram).message).toMatch(
      /^TLS connection to Kafka at kafka-1\.example\.com:9093 failed .*use the name it was issued for in KAFKA_BROKERS, or set KAFKA_SSL_SERVERNAME$/,
    );
  });

  it('a certificate alert without a client certificate asks for one; with one, says it is not accepted', () => {
    const alert = tlsError('ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE');
    expect(connectFailure(alert, { ...none, kafkaSsl: true }).message).toMatch(/requires a client certificate .*KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE$/);
    expect(connectFailure(alert, { ...none, kafkaSslCertFile: '/c', kafkaSslKeyFile: '/k' }).message).toMatch(/does not accept the client certificate/);
  });

  it('a connection closed during an OAUTHBEARER login blames the token', () => {
    const oauth: SecuritySettings = { ...none, kafkaSaslMechanism: 'oauthbearer', kafkaSaslOauthbearerTokenFile: '/t' };
    const closed = Object.assign(new Error('Closed connection'), { name: 'KafkaJSConnectionClosedError' });
    expect(connectFailure(closed, oauth, { tokenRequested: true }).message).toMatch(/^Kafka closed the connection during the SASL\/OAUTHBEARER login .*KAFKA_SASL_OAUTHBEARER_TOKEN_FILE/);
    expect(connectFailure(closed, oauth, { tokenRequested: false }).exitCode).toBe(ExitCode.UNAVAILABLE);
  });

  it('an unreachable broker stays exit 3, with the plain message when no security is set', () => {
    const refused = wrapped(tlsError('ECONNREFUSED'));
    expect(connectFailure(refused, none)).toMatchObject({ exitCode: ExitCode.UNAVAILABLE });
    expect(connectFailure(refused, none).message).toMatch(/: check KAFKA_BROKERS and that the brokers are up$/);
    expect(connectFailure(refused, scram).message).toMatch(/and the security settings \(SASL\/SCRAM-SHA-512 over TLS\)$/);
  });
});

describe('security settings', () => {
  it('reads a secret from its _FILE (env or flag), without the trailing newline', () => {
    const file = tmpFile('s3cret\n');
    const fromEnv = loadConfig('run', { env: { ...base, KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD_FILE: file } });
    expect(fromEnv.kafkaSaslPassword).toBe('s3cret');
    const fromFlag = loadConfig('run', { env: { ...base, KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'env' }, fileFlags: { kafkaSaslPassword: file } });
    expect(fromFlag.kafkaSaslPassword).toBe('s3cret');
    const url = tmpFile('postgres://u:pw@db/x\n');
    expect(loadConfig('migrate', { env: { DATABASE_URL_FILE: url } }).databaseUrl).toBe('postgres://u:pw@db/x');
  });

  it('refuses a value and its _FILE in the same place, and an unreadable _FILE, with one line (exit 2)', () => {
    const both = () => loadConfig('run', { env: { ...base, KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'x', KAFKA_SASL_PASSWORD_FILE: '/x' } });
    expect(both).toThrow(/KAFKA_SASL_PASSWORD and KAFKA_SASL_PASSWORD_FILE are both set: set only one/);
    const missing = () => loadConfig('run', { env: { ...base, KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD_FILE: '/no/such/file' } });
    expect(missing).toThrow(ConfigError);
    expect(missing).toThrow(/cannot read KAFKA_SASL_PASSWORD_FILE \/no\/such\/file \(ENOENT\): check the path/);
  });

  it('checks settings that only work together', () => {
    expect(kafkaSecurityProblems({ kafkaSaslMechanism: 'scram-sha-256' })).toEqual([expect.stringMatching(/needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD/)]);
    expect(kafkaSecurityProblems({ kafkaSaslMechanism: 'oauthbearer' })).toEqual([expect.stringMatching(/exactly one of KAFKA_SASL_OAUTHBEARER_TOKEN_FILE/)]);
    expect(kafkaSecurityProblems({ kafkaSaslMechanism: 'none', kafkaSaslUsername: 'u' })).toEqual([expect.stringMatching(/KAFKA_SASL_MECHANISM is none/)]);
    expect(kafkaSecurityProblems({ kafkaSaslMechanism: 'none', kafkaSslCertFile: '/c' })).toEqual(['mutual TLS needs both KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE']);
    expect(kafkaSecurityProblems({ kafkaSaslMechanism: 'plain', kafkaSaslUsername: 'u', kafkaSaslPassword: 'p' })).toEqual([]);
  });

  it('logs every secret as *** (a URL keeps its host)', () => {
    const c = loadConfig('run', {
      env: { ...base, DATABASE_URL: 'postgres://u:dbpw@h/db', KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'kpw', KAFKA_SSL_KEY_FILE: '/k', KAFKA_SSL_CERT_FILE: '/c', KAFKA_SSL_KEY_PASSWORD: 'keypw' },
    });
    const logged = loggableConfig(c);
    expect(logged).toMatchObject({ databaseUrl: 'postgres://u:***@h/db', kafkaSaslPassword: '***', kafkaSslKeyPassword: '***', kafkaSaslUsername: 'u' });
    expect(JSON.stringify(logged)).not.toMatch(/dbpw|kpw|keypw/);
    // A secret that looks like a URL is still hidden; an unset one stays unset; unknown keys pass through.
    expect(loggableConfig({ kafkaSaslPassword: 'pass://word@host', kafkaSslKeyPassword: undefined, ...({ extra: 1 } as object) })).toEqual({
      kafkaSaslPassword: '***',
      kafkaSslKeyPassword: undefined,
      extra: 1,
    });
  });
});

describe('security settings: every combination rule and origin', () => {
  const p = kafkaSecurityProblems;
  it('SASL user name and password: both needed for plain and SCRAM, refused without a mechanism', () => {
    expect(p({ kafkaSaslMechanism: 'plain', kafkaSaslUsername: 'u' })).toHaveLength(1);
    expect(p({ kafkaSaslMechanism: 'plain', kafkaSaslPassword: 'p' })).toHaveLength(1);
    expect(p({ kafkaSaslMechanism: 'scram-sha-512', kafkaSaslUsername: 'u', kafkaSaslPassword: 'p' })).toEqual([]);
    expect(p({ kafkaSaslPassword: 'p' })).toEqual([expect.stringMatching(/KAFKA_SASL_MECHANISM is none/)]);
    expect(p({ kafkaSaslMechanism: 'oauthbearer', kafkaSaslUsername: 'u', kafkaSaslOauthbearerTokenFile: '/t' })).toEqual([]);
  });

  it('OAUTHBEARER: exactly one token source, and token settings only with oauthbearer', () => {
    expect(p({ kafkaSaslMechanism: 'oauthbearer', kafkaSaslOauthbearerTokenFile: '/t', kafkaSaslOauthbearerTokenCommand: 'c' })).toEqual([
      'KAFKA_SASL_MECHANISM=oauthbearer needs exactly one of KAFKA_SASL_OAUTHBEARER_TOKEN_FILE or KAFKA_SASL_OAUTHBEARER_TOKEN_COMMAND',
    ]);
    expect(p({ kafkaSaslMechanism: 'oauthbearer', kafkaSaslOauthbearerTokenCommand: 'c' })).toEqual([]);
    expect(p({ kafkaSaslMechanism: 'plain', kafkaSaslUsername: 'u', kafkaSaslPassword: 'p', kafkaSaslOauthbearerTokenCommand: 'c' })).toEqual([
      'KAFKA_SASL_OAUTHBEARER_TOKEN_FILE/_COMMAND are set but KAFKA_SASL_MECHANISM is not oauthbearer: set KAFKA_SASL_MECHANISM=oauthbearer',
    ]);
  });

  it('TLS files: certificate and key together, a key passphrase only with a key', () => {
    expect(p({ kafkaSslKeyFile: '/k' })).toEqual(['mutual TLS needs both KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE']);
    expect(p({ kafkaSslKeyPassword: 'x' })).toEqual(['KAFKA_SSL_KEY_PASSWORD is set without KAFKA_SSL_KEY_FILE']);
    expect(p({ kafkaSslCertFile: '/c', kafkaSslKeyFile: '/k', kafkaSslKeyPassword: 'x' })).toEqual([]);
  });

  it('names where a bad value came from: flag, flag file, env file', () => {
    const empty = tmpFile('\n\n');
    expect(() => loadConfig('run', { env: { ...base, KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u' }, fileFlags: { kafkaSaslPassword: empty } })).toThrow(
      `--kafka-sasl-password-file ${empty} (value hidden) is invalid: expected a non-empty string`,
    );
    const envFile = tmpFile('KAFKA_COMPRESSION=brotli\n');
    expect(() => loadConfig('run', { env: base, envFiles: [envFile] })).toThrow('KAFKA_COMPRESSION in env file "brotli" is invalid: expected one of none, gzip, lz4, zstd, snappy');
    expect(() => loadConfig('run', { env: base, flags: { kafkaSaslPassword: 'x' }, fileFlags: { kafkaSaslPassword: empty } })).toThrow(
      '--kafka-sasl-password and --kafka-sasl-password-file are both set: set only one',
    );
    const both = tmpFile(`KAFKA_SASL_PASSWORD=a\nKAFKA_SASL_PASSWORD_FILE=${empty}\n`);
    expect(() => loadConfig('run', { env: base, envFiles: [both] })).toThrow('KAFKA_SASL_PASSWORD in env file and KAFKA_SASL_PASSWORD_FILE in env file are both set');
  });

  it('keeps inner newlines of a secret file, reads _FILE only for secrets, and offers _FILE for required secrets', () => {
    const multi = tmpFile('pa\nss\r\n\n');
    expect(loadConfig('run', { env: { ...base, KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD_FILE: multi } }).kafkaSaslPassword).toBe('pa\nss');
    expect(() => loadConfig('run', { env: { DATABASE_URL: base.DATABASE_URL, KAFKA_BROKERS_FILE: tmpFile('127.0.0.1:9092') } })).toThrow(/KAFKA_BROKERS is required: set --kafka-brokers <list> or KAFKA_BROKERS \(/);
    expect(() => loadConfig('migrate', { env: {} })).toThrow(/DATABASE_URL is required: set --database-url <url> or DATABASE_URL \(or DATABASE_URL_FILE\) \(/);
  });

  it('takes a boolean flag as given, on or off', () => {
    expect(loadConfig('run', { env: base, flags: { listen: false } }).listen).toBe(false);
    expect(loadConfig('run', { env: base, flags: { kafkaSsl: true } }).kafkaSsl).toBe(true);
    expect(() => loadConfig('run', { env: base, flags: { kafkaSsl: 'maybe' } })).toThrow('--kafka-ssl "maybe" is invalid: expected true or false');
  });
});
