/**
 * The relay's one HTTP listener (OUTBOX_HTTP_ADDR, default :9464; `off` disables it):
 *   GET /metrics  Prometheus exposition (src/metrics/registry.ts)
 *   GET /healthz  200 while the process and its loop are alive, else 503; JSON body
 *   GET /readyz   200 while ready (src/health/health.ts), else 503 with the reasons; JSON body
 * Every handler answers from memory: none of them touches the database pool or Kafka, so they stay
 * responsive while either stalls.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { UnavailableError, describeError } from '../errors.js';
import type { Verdict } from '../health/health.js';
import type { Logger } from '../log.js';
import type { HttpAddress } from './address.js';

export interface HttpServerOptions {
  address: HttpAddress;
  registry: Registry;
  liveness(): Verdict;
  readiness(): Verdict;
  log: Logger;
  /** The setting's text, for the error line. */
  setting: string;
}

export interface RunningHttpServer {
  /** The bound port (the real one when the setting asked for port 0). */
  port: number;
  close(): Promise<void>;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function handle(o: HttpServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  if (path === '/metrics') {
    const body = await o.registry.metrics();
    res.writeHead(200, { 'content-type': o.registry.contentType, 'content-length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
    return;
  }
  if (path === '/healthz' || path === '/readyz') {
    const verdict = path === '/healthz' ? o.liveness() : o.readiness();
    sendJson(res, verdict.ok ? 200 : 503, { status: verdict.ok ? 'ok' : 'fail', reasons: verdict.reasons });
    return;
  }
  sendJson(res, 404, { error: 'not found', endpoints: ['/metrics', '/healthz', '/readyz'] });
}

export async function startHttpServer(o: HttpServerOptions): Promise<RunningHttpServer> {
  const server: Server = createServer((req, res) => {
    handle(o, req, res).catch((err: unknown) => {
      o.log.error({ err: describeError(err), path: req.url }, 'HTTP handler failed');
      if (!res.headersSent) sendJson(res, 500, { error: describeError(err) });
      else res.destroy();
    });
  });
  // Scrapers keep connections alive; a stopping relay must not wait for them.
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'EADDRINUSE' ? 'the address is in use' : err.code === 'EACCES' ? 'permission denied' : describeError(err);
      reject(
        new UnavailableError(
          `cannot listen on ${o.setting} for /metrics, /healthz and /readyz (${why}): set OUTBOX_HTTP_ADDR (--http-addr) to a free host:port, or to off`,
          err,
        ),
      );
    });
    server.listen({ host: o.address.host, port: o.address.port }, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  o.log.info({ address: o.setting, port, endpoints: ['/metrics', '/healthz', '/readyz'] }, 'HTTP listener started');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
