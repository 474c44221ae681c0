/**
 * The secured Kafka broker of stack/secure-broker.sh (SASL_SSL, mutual TLS, SASL_PLAINTEXT and a
 * plaintext admin listener; SCRAM/PLAIN users, unsecured-JWT OAUTHBEARER, deny ACLs for one user),
 * started by the test file that needs it and stopped after it.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SCRIPT = 'stack/secure-broker.sh';

export interface SecureBroker {
  /** SASL_SSL listener (PLAIN, SCRAM-SHA-256/512, OAUTHBEARER). */
  saslSsl: string;
  /** SSL listener with ssl.client.auth=required. */
  mtls: string;
  /** SASL without TLS. */
  saslPlaintext: string;
  /** SASL_SSL bound to 127.0.0.1, advertised as localhost, with a certificate for IP 127.0.0.1 only. */
  misnamed: string;
  /** Plaintext listener for the test's own admin client and consumer. */
  admin: string;
  /** Directory of ca.pem, client.pem/.key, client.enc.key + client-key.pass, other-ca.pem, stranger.pem/.key. */
  certs: string;
  users: Record<'plain' | 'scram256' | 'scram512' | 'noidem', { user: string; password: string }>;
}

export async function secureBrokerUp(): Promise<SecureBroker> {
  const { stdout } = await run('bash', [SCRIPT, 'up'], { timeout: 240_000, maxBuffer: 10 * 1024 * 1024 });
  return secureListeners(stdout, SCRIPT);
}

/**
 * The SECURE_* lines `script up` printed (stack/secure-broker.sh; stack/cluster.sh with
 * KAFKA_CLUSTER_SECURE=1 prints the same keys with each listener's three addresses).
 */
export function secureListeners(stdout: string, script: string): SecureBroker {
  const env = Object.fromEntries(
    stdout
      .trim()
      .split('\n')
      .map((l) => l.split('=', 2) as [string, string]),
  );
  const need = (k: string) => {
    const v = env[k];
    if (!v) throw new Error(`${script} up printed no ${k}:\n${stdout}`);
    return v;
  };
  const user = (name: string) => ({ user: need(`SECURE_${name}_USER`), password: need(`SECURE_${name}_PASSWORD`) });
  return {
    saslSsl: need('SECURE_SASL_SSL'),
    mtls: need('SECURE_SSL'),
    saslPlaintext: need('SECURE_SASL_PLAINTEXT'),
    misnamed: need('SECURE_MISNAMED'),
    admin: need('SECURE_PLAINTEXT'),
    certs: need('SECURE_CERTS'),
    users: { plain: user('PLAIN'), scram256: user('SCRAM256'), scram512: user('SCRAM512'), noidem: user('NOIDEM') },
  };
}

export async function secureBrokerDown(): Promise<void> {
  await run('bash', [SCRIPT, 'down'], { timeout: 60_000 });
}

/** An unsecured JWT (alg none) the broker's OAuthBearerUnsecuredValidatorCallbackHandler accepts. */
export function unsecuredJwt(sub: string, expiresInSeconds: number): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const claims = sub === '' ? { iat: now, exp: now + expiresInSeconds } : { sub, iat: now, exp: now + expiresInSeconds };
  return `${b64({ alg: 'none' })}.${b64(claims)}.`;
}
