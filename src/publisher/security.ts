/**
 * Kafka security: the kafkajs `ssl` and `sasl` options built from the settings (src/config.ts), the
 * OAUTHBEARER token source, and the one line a refused connection ends the relay with.
 *
 * - TLS: Node's tls options. KAFKA_SSL_CA_FILE replaces the system CAs; KAFKA_SSL_CERT_FILE/KEY_FILE
 *   give the client certificate for mutual TLS; KAFKA_SSL_SERVERNAME overrides the name checked
 *   against the broker certificate. Certificates are always verified (there is no "insecure" mode).
 * - SASL: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 with a user name and password; OAUTHBEARER with a token
 *   read from a file or printed by a command, cached and fetched again before it expires.
 * Files are read once at start-up; an unreadable one is a ConfigError (exit 2).
 * Everything but tokenSource's I/O and the kafkajs error walk is pure; test/unit/security.test.ts.
 */
import { execFile } from 'node:child_process';
import { readFile as readFileAsync } from 'node:fs/promises';
import type { ConnectionOptions } from 'node:tls';
import type { SASLOptions } from 'kafkajs';
import type { Config, KafkaSecurityKey } from '../config.js';
import { readSecretFile } from '../config.js';
import { causes } from './classify.js';
import { ConfigError, KafkaRefusedError, UnavailableError, describeError, type RelayExit } from '../errors.js';

export type SecuritySettings = Pick<Config, 'kafkaBrokers' | KafkaSecurityKey>;

/** PLAINTEXT without SASL: the defaults of the security settings. */
export const NO_SECURITY: Omit<SecuritySettings, 'kafkaBrokers'> = {
  kafkaSsl: false,
  kafkaSslCaFile: undefined,
  kafkaSslCertFile: undefined,
  kafkaSslKeyFile: undefined,
  kafkaSslKeyPassword: undefined,
  kafkaSslServername: undefined,
  kafkaSaslMechanism: 'none',
  kafkaSaslUsername: undefined,
  kafkaSaslPassword: undefined,
  kafkaSaslOauthbearerTokenFile: undefined,
  kafkaSaslOauthbearerTokenCommand: undefined,
};

export interface KafkaSecurity {
  ssl?: ConnectionOptions;
  sasl?: SASLOptions;
  /** For messages: "SASL/SCRAM-SHA-512 over TLS", "TLS", "PLAINTEXT". */
  describe: string;
  /** Whether kafkajs asked for an OAUTHBEARER token (so a closed connection happened at the login). */
  tokenRequested(): boolean;
}

/** Whether TLS is on: KAFKA_SSL, or any TLS file or name implies it. */
export function tlsEnabled(s: SecuritySettings): boolean {
  return s.kafkaSsl || [s.kafkaSslCaFile, s.kafkaSslCertFile, s.kafkaSslKeyFile, s.kafkaSslServername].some((v) => v !== undefined);
}

const MECHANISM_NAMES = { plain: 'PLAIN', 'scram-sha-256': 'SCRAM-SHA-256', 'scram-sha-512': 'SCRAM-SHA-512', oauthbearer: 'OAUTHBEARER' } as const;

export interface SecurityDeps {
  /** Reads a PEM file at start-up (default: readFileSync through readSecretFile's error line). */
  readFile?: (path: string, setting: string) => string;
  /** The OAUTHBEARER token source (default: tokenSource over the file or command). */
  token?: () => Promise<string>;
}

/** The kafkajs ssl/sasl options for these settings. Throws ConfigError for a file it cannot read. */
export function kafkaSecurity(s: SecuritySettings, deps: SecurityDeps = {}): KafkaSecurity {
  const read =
    deps.readFile ??
    ((path: string, setting: string) => {
      try {
        return readSecretFile(path, setting);
      } catch (err) {
        throw new ConfigError((err as Error).message);
      }
    });
  let ssl: ConnectionOptions | undefined;
  if (tlsEnabled(s)) {
    ssl = { rejectUnauthorized: true };
    if (s.kafkaSslCaFile !== undefined) ssl.ca = read(s.kafkaSslCaFile, 'KAFKA_SSL_CA_FILE');
    if (s.kafkaSslCertFile !== undefined) ssl.cert = read(s.kafkaSslCertFile, 'KAFKA_SSL_CERT_FILE');
    if (s.kafkaSslKeyFile !== undefined) ssl.key = read(s.kafkaSslKeyFile, 'KAFKA_SSL_KEY_FILE');
    if (s.kafkaSslKeyPassword !== undefined) ssl.passphrase = s.kafkaSslKeyPassword;
    if (s.kafkaSslServername !== undefined) ssl.servername = s.kafkaSslServername;
  }
  let sasl: SASLOptions | undefined;
  const m = s.kafkaSaslMechanism;
  if (m === 'plain' || m === 'scram-sha-256' || m === 'scram-sha-512') {
    sasl = { mechanism: m, username: s.kafkaSaslUsername ?? '', password: s.kafkaSaslPassword ?? '' } as SASLOptions;
  }
  let requested = false;
  if (m === 'oauthbearer') {
    const token = deps.token ?? tokenSource(oauthSource(s)).get;
    sasl = {
      mechanism: 'oauthbearer',
      oauthBearerProvider: async () => {
        requested = true;
        return { value: await token() };
      },
    };
  }
  return { ...(ssl ? { ssl } : {}), ...(sasl ? { sasl } : {}), describe: kafkaSecurityName(s), tokenRequested: () => requested };
}

function oauthSource(s: SecuritySettings): TokenFetch {
  if (s.kafkaSaslOauthbearerTokenFile !== undefined) {
    const path = s.kafkaSaslOauthbearerTokenFile;
    return {
      what: `KAFKA_SASL_OAUTHBEARER_TOKEN_FILE ${path}`,
      fetch: async () => (await readFileAsync(path, 'utf8')).trim(),
    };
  }
  const command = s.kafkaSaslOauthbearerTokenCommand ?? '';
  return { what: 'KAFKA_SASL_OAUTHBEARER_TOKEN_COMMAND', fetch: () => runTokenCommand(command) };
}

/** Runs the token command with sh; its stdout (trimmed) is the token. */
function runTokenCommand(command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('/bin/sh', ['-c', command], { timeout: 30_000, maxBuffer: 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        const detail = String(stderr).trim().split('\n')[0] ?? '';
        const how = err.killed ? 'timed out after 30 s' : `exited with ${String(err.code ?? err.signal)}`;
        reject(new Error(`the command ${how}${detail ? `: ${detail.slice(0, 200)}` : ''}`));
      } else resolve(String(stdout).trim());
    });
  });
}

export interface TokenFetch {
  /** Names the source in errors, never the token. */
  what: string;
  fetch(): Promise<string>;
}

/** Without an `exp` claim, a token is fetched again after this long. */
export const TOKEN_REREAD_MS = 60_000;
/** A token with an `exp` is fetched again once this share of its lifetime has passed… */
const REFRESH_AT_SHARE = 0.8;
/** …and at the latest this long before it expires. */
const REFRESH_MARGIN_MS = 30_000;

/** The JWT `exp` claim in ms, if the token is a JWT that has one (the signature is not checked: the broker does). */
export function jwtExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof claims.exp === 'number' && Number.isFinite(claims.exp) ? claims.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** When a token fetched at `fetchedAt` must be fetched again. */
export function refreshAt(token: string, fetchedAt: number): number {
  const exp = jwtExpiry(token);
  if (exp === undefined) return fetchedAt + TOKEN_REREAD_MS;
  const byShare = fetchedAt + (exp - fetchedAt) * REFRESH_AT_SHARE;
  return Math.max(fetchedAt, Math.min(byShare, exp - REFRESH_MARGIN_MS));
}

/**
 * A cached token, fetched again once refreshAt() has passed (kafkajs asks on every connection and
 * on re-authentication). Concurrent callers share one fetch. A failed fetch rejects with a line that
 * names the source; an expired token is never handed out again.
 */
export function tokenSource(source: TokenFetch, now: () => number = Date.now): { get: () => Promise<string> } {
  let cached: { token: string; refreshAt: number } | undefined;
  let inflight: Promise<string> | undefined;
  const get = async (): Promise<string> => {
    if (cached && now() < cached.refreshAt) return cached.token;
    inflight ??= (async () => {
      try {
        let token: string;
        try {
          token = await source.fetch();
        } catch (err) {
          throw new Error(`cannot get an OAUTHBEARER token from ${source.what}: ${describeError(err)}`);
        }
        if (token === '') throw new Error(`cannot get an OAUTHBEARER token from ${source.what}: it is empty`);
        const fetchedAt = now();
        const exp = jwtExpiry(token);
        if (exp !== undefined && exp <= fetchedAt) {
          throw new Error(`cannot get an OAUTHBEARER token from ${source.what}: the token expired at ${new Date(exp).toISOString()}: renew it`);
        }
        cached = { token, refreshAt: refreshAt(token, fetchedAt) };
        return token;
      } finally {
        inflight = undefined;
      }
    })();
    return inflight;
  };
  return { get };
}

const ALTNAME = /ERR_TLS_CERT_ALTNAME_INVALID|Hostname\/IP does not match/i;
/** ALTNAME at a broker the cluster's metadata named: KAFKA_BROKERS is not what needs fixing. */
const ALTNAME_ADVERTISED =
  "the broker's certificate is not for the host name the cluster advertises for it: make the brokers' advertised.listeners use names their certificates carry, or set KAFKA_SSL_SERVERNAME";

/** TLS error codes (Node/OpenSSL) and what to check for each. */
const TLS_FIXES: [RegExp, string][] = [
  [
    /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_UNTRUSTED/,
    "the broker's certificate is not signed by a trusted CA: set KAFKA_SSL_CA_FILE to the CA that signed it",
  ],
  [ALTNAME, "the broker's certificate is not for this host name: use the name it was issued for in KAFKA_BROKERS, or set KAFKA_SSL_SERVERNAME"],
  [/CERT_HAS_EXPIRED|CERT_NOT_YET_VALID/, "the broker's certificate has expired or is not valid yet: renew it on the broker"],
  [
    /UNKNOWN_CA|BAD_CERTIFICATE|alert number 4[28]|CERTIFICATE_UNKNOWN|alert number 46/i,
    'the broker does not accept the client certificate: use one signed by a CA the broker trusts (KAFKA_SSL_CERT_FILE / KAFKA_SSL_KEY_FILE)',
  ],
  [/bad decrypt|BAD_DECRYPT|PEM_read|no start line|KEY_VALUES_MISMATCH/i, 'the client key cannot be read or does not match the certificate: check KAFKA_SSL_KEY_FILE and KAFKA_SSL_KEY_PASSWORD'],
  [/WRONG_VERSION_NUMBER|packet length too long|record layer failure/i, 'the broker does not speak TLS on this port: check the port in KAFKA_BROKERS, or turn KAFKA_SSL off'],
];

function textOf(err: unknown): string {
  const e = err as { name?: unknown; type?: unknown; code?: unknown; message?: unknown } | null;
  return [e?.name, e?.type, e?.code, e?.message].filter((v) => typeof v === 'string').join(' ');
}

/** Kafka refused InitProducerId for the relay's principal (no IdempotentWrite on the cluster): `doctor` names the check. */
export function refusesIdempotence(err: unknown): boolean {
  return [...causes(err)].some((e) => textOf(e).includes('CLUSTER_AUTHORIZATION_FAILED'));
}

/**
 * The one line (and exit code) for a failed first connection to Kafka: a refused login, a TLS
 * failure, idempotent writes not allowed (exit 7, KafkaRefusedError: restarting will not help), or
 * the brokers being unreachable (exit 3, UnavailableError).
 */
export function connectFailure(err: unknown, s: SecuritySettings, context: { tokenRequested?: boolean } = {}): RelayExit {
  const where = s.kafkaBrokers.join(',');
  const all = [...causes(err)];
  const texts = all.map(textOf);
  const has = (re: RegExp) => texts.some((t) => re.test(t));
  const m = s.kafkaSaslMechanism;
  if (m !== 'none' && has(/SASL|Authentication/i)) {
    const name = MECHANISM_NAMES[m];
    const type = has(/UNSUPPORTED_SASL_MECHANISM|not supported by the broker|Unsupported SASL mechanism/i)
      ? 'UNSUPPORTED_SASL_MECHANISM'
      : has(/ILLEGAL_SASL_STATE/)
        ? 'ILLEGAL_SASL_STATE'
        : 'SASL_AUTHENTICATION_FAILED';
    if (type === 'UNSUPPORTED_SASL_MECHANISM') {
      return new KafkaRefusedError(`the Kafka listener at ${where} does not offer SASL/${name} (UNSUPPORTED_SASL_MECHANISM): check KAFKA_SASL_MECHANISM and the port in KAFKA_BROKERS`, err);
    }
    const tokenProblem = texts.find((t) => t.includes('cannot get an OAUTHBEARER token'));
    if (tokenProblem) return new KafkaRefusedError(tokenProblem.slice(tokenProblem.indexOf('cannot get')), err);
    const fix =
      m === 'oauthbearer'
        ? `check the token from ${s.kafkaSaslOauthbearerTokenFile !== undefined ? 'KAFKA_SASL_OAUTHBEARER_TOKEN_FILE' : 'KAFKA_SASL_OAUTHBEARER_TOKEN_COMMAND'} (expired? issued for this cluster?)`
        : 'check KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD';
    const user = m === 'oauthbearer' ? '' : ` for user ${JSON.stringify(s.kafkaSaslUsername ?? '')}`;
    return new KafkaRefusedError(`Kafka refused the SASL/${name} login${user} (${type}): ${fix}`, err);
  }
  if (m === 'oauthbearer') {
    const tokenProblem = texts.find((t) => t.includes('cannot get an OAUTHBEARER token'));
    if (tokenProblem) return new KafkaRefusedError(tokenProblem.slice(tokenProblem.indexOf('cannot get')), err);
    // The broker answers a token it rejects with a challenge kafkajs does not read, then closes.
    if (context.tokenRequested && has(/Closed connection|Connection closed|ECONNRESET/i)) {
      return new KafkaRefusedError(
        `Kafka closed the connection during the SASL/OAUTHBEARER login (it rejects the token): check the token from ${s.kafkaSaslOauthbearerTokenFile !== undefined ? 'KAFKA_SASL_OAUTHBEARER_TOKEN_FILE' : 'KAFKA_SASL_OAUTHBEARER_TOKEN_COMMAND'} (expired? issued for this cluster? the claims the broker requires?)`,
        err,
      );
    }
  }
  if (refusesIdempotence(err)) {
    const principal = m === 'none' || m === 'oauthbearer' ? 'the relay\'s principal' : `User:${s.kafkaSaslUsername ?? ''}`;
    return new KafkaRefusedError(
      `Kafka does not allow idempotent writes for ${principal} (CLUSTER_AUTHORIZATION_FAILED on InitProducerId): grant IdempotentWrite on the cluster (kafka-acls --add --allow-principal ${principal === "the relay's principal" ? 'User:<relay>' : principal} --operation IdempotentWrite --cluster) or Write on the topics`,
      err,
    );
  }
  if (tlsEnabled(s)) {
    // Without a client certificate, any certificate alert from the broker means it wants one.
    if (s.kafkaSslCertFile === undefined && has(/CERTIFICATE_REQUIRED|BAD_CERTIFICATE|alert number (116|42)|HANDSHAKE_FAILURE/i)) {
      return new KafkaRefusedError(
        `TLS connection to Kafka at ${where} failed (${tlsCode(all) ?? 'handshake refused'}): the broker requires a client certificate (mutual TLS): set KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE`,
        err,
      );
    }
    const learnt = metadataBroker(all, s);
    const at = learnt === undefined ? `at ${where}` : `broker ${learnt} (named by the cluster's metadata, not in KAFKA_BROKERS)`;
    for (const [re, fix] of TLS_FIXES) {
      const hit = texts.find((t) => re.test(t));
      const why = learnt !== undefined && re === ALTNAME ? ALTNAME_ADVERTISED : fix;
      if (hit) return new KafkaRefusedError(`TLS connection to Kafka ${at} failed (${tlsCode(all) ?? hit.slice(0, 120)}): ${why}`, err);
    }
    if (s.kafkaSslCertFile === undefined && has(/Connection closed|ECONNRESET|socket hang up/i)) {
      return new UnavailableError(
        `cannot connect to Kafka at ${where} over TLS (${describeError(err)}): the broker closed the connection; if it requires a client certificate, set KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE`,
        err,
      );
    }
  }
  const security = tlsEnabled(s) || m !== 'none' ? `, and the security settings (${kafkaSecurityName(s)})` : '';
  return new UnavailableError(`cannot connect to Kafka at ${where} (${describeError(err)}): check KAFKA_BROKERS and that the brokers are up${security}`, err);
}

/** The broker a kafkajs connection error names (`broker`), when it is not one of KAFKA_BROKERS. */
function metadataBroker(all: unknown[], s: SecuritySettings): string | undefined {
  for (const e of all) {
    const broker = (e as { broker?: unknown } | null)?.broker;
    if (typeof broker === 'string' && !s.kafkaBrokers.includes(broker)) return broker;
  }
  return undefined;
}

function tlsCode(all: unknown[]): string | undefined {
  for (const e of all) {
    const code = (e as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && code !== 'ECONNRESET') return code;
  }
  return undefined;
}

/** "SASL/SCRAM-SHA-512 over TLS", for log lines. */
export function kafkaSecurityName(s: SecuritySettings): string {
  const transport = tlsEnabled(s) ? (s.kafkaSslCertFile !== undefined ? 'mutual TLS' : 'TLS') : 'PLAINTEXT';
  return s.kafkaSaslMechanism === 'none' ? transport : `SASL/${MECHANISM_NAMES[s.kafkaSaslMechanism]} over ${transport}`;
}
