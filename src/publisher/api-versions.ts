/**
 * The broker's API versions (Kafka's ApiVersions request, v0), asked over the relay's own transport
 * (TLS when configured): kafkajs negotiates them but does not expose them. ApiVersions is answered
 * before any SASL login, so no credentials are sent. Used by the start-up preflight to check that the
 * broker speaks what kafkajs 2.2.4's idempotent producer needs.
 */
import net from 'node:net';
import tls, { type ConnectionOptions } from 'node:tls';

export interface ApiRange {
  min: number;
  max: number;
}

/** Kafka API keys the relay uses, and the versions kafkajs 2.2.4 implements. */
export const NEEDED_APIS: Record<string, { key: number; client: ApiRange }> = {
  Produce: { key: 0, client: { min: 3, max: 7 } }, // v3+: record batches v2, needed by the idempotent producer
  Metadata: { key: 3, client: { min: 0, max: 6 } },
  ApiVersions: { key: 18, client: { min: 0, max: 2 } },
  InitProducerId: { key: 22, client: { min: 0, max: 1 } },
  DescribeConfigs: { key: 32, client: { min: 0, max: 2 } },
};

/** Parse an ApiVersions v0 response body (after the size and correlation id). */
export function parseApiVersions(body: Buffer): Map<number, ApiRange> {
  const errorCode = body.readInt16BE(0);
  if (errorCode !== 0) throw new Error(`ApiVersions answered with error code ${errorCode}`);
  const count = body.readInt32BE(2);
  const out = new Map<number, ApiRange>();
  for (let i = 0, at = 6; i < count; i++, at += 6) out.set(body.readInt16BE(at), { min: body.readInt16BE(at + 2), max: body.readInt16BE(at + 4) });
  return out;
}

/** The APIs of NEEDED_APIS the broker does not offer in a version kafkajs speaks ("Produce v3-v7 (broker: v8-v13)"). */
export function unsupportedApis(versions: ReadonlyMap<number, ApiRange>): string[] {
  const problems: string[] = [];
  for (const [name, { key, client }] of Object.entries(NEEDED_APIS)) {
    const broker = versions.get(key);
    if (!broker || broker.max < client.min || broker.min > client.max) {
      problems.push(`${name} v${client.min}-v${client.max} (broker: ${broker ? `v${broker.min}-v${broker.max}` : 'none'})`);
    }
  }
  return problems;
}

/** Ask one broker for its API versions. */
export function fetchApiVersions(host: string, port: number, ssl: ConnectionOptions | undefined, timeoutMs: number): Promise<Map<number, ApiRange>> {
  const clientId = Buffer.from('outbox-relay-preflight');
  const request = Buffer.alloc(4 + 2 + 2 + 4 + 2 + clientId.length);
  request.writeInt32BE(request.length - 4, 0);
  request.writeInt16BE(18, 4); // ApiVersions
  request.writeInt16BE(0, 6); // v0
  request.writeInt32BE(1, 8); // correlation id
  request.writeInt16BE(clientId.length, 12);
  clientId.copy(request, 14);
  return new Promise((resolve, reject) => {
    const socket = ssl
      ? tls.connect({ host, port, ...(!net.isIP(host) ? { servername: host } : {}), ...ssl })
      : net.connect({ host, port });
    let received = Buffer.alloc(0);
    const done = (err?: Error, value?: Map<number, ApiRange>) => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(value!);
    };
    const timer = setTimeout(() => done(new Error(`no ApiVersions answer within ${timeoutMs} ms`)), timeoutMs);
    socket.once(ssl ? 'secureConnect' : 'connect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 4 || received.length < 4 + received.readInt32BE(0)) return;
      try {
        done(undefined, parseApiVersions(received.subarray(8, 4 + received.readInt32BE(0))));
      } catch (err) {
        done(err as Error);
      }
    });
    socket.once('error', (err) => done(err));
    socket.once('close', () => done(new Error('the broker closed the connection before answering ApiVersions')));
  });
}
