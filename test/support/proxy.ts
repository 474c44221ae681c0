/**
 * An in-process TCP proxy for the chaos suite (node:net; no root, no nftables, no Docker): the relay
 * is pointed at it instead of PostgreSQL or Kafka, and the test switches what it does while it runs.
 *
 * Modes, per connection:
 * - pass: bytes forwarded both ways;
 * - delay: each chunk forwarded `ms` later, in order;
 * - blackhole: sockets stay open, nothing is forwarded either way and nothing is closed, so each end
 *   sees a live TCP connection (its kernel still ACKs) whose peer never answers — a half-open
 *   connection or a partition, as far as either end can tell. Bytes dropped cannot be sent again, so
 *   a connection that was blackholed stays blackholed until an end closes it;
 * - reset: sockets destroyed with a TCP RST; new connections are reset as soon as they are accepted.
 *
 * setMode(mode) switches new connections and every open one (blackholed ones only to reset, see above);
 * setMode(mode, 'new') only connections accepted from then on (existing ones keep theirs).
 */
import net from 'node:net';

export type ProxyMode = { kind: 'pass' } | { kind: 'blackhole' } | { kind: 'reset' } | { kind: 'delay'; ms: number };

export const PASS: ProxyMode = { kind: 'pass' };
export const BLACKHOLE: ProxyMode = { kind: 'blackhole' };
export const RESET: ProxyMode = { kind: 'reset' };
export const delay = (ms: number): ProxyMode => ({ kind: 'delay', ms });

interface Link {
  id: number;
  client: net.Socket;
  upstream: net.Socket;
  mode: ProxyMode;
  /** When the last delayed chunk of each direction goes out, so delayed chunks keep their order. */
  due: { up: number; down: number };
}

export interface TcpProxy {
  readonly port: number;
  readonly target: string;
  readonly mode: ProxyMode;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Open connections and their modes. */
  open(): { id: number; mode: ProxyMode['kind'] }[];
  setMode(mode: ProxyMode, scope?: 'all' | 'new'): void;
  close(): Promise<void>;
}

export async function startProxy(options: { port: number; targetHost?: string; targetPort: number; host?: string }): Promise<TcpProxy> {
  const targetHost = options.targetHost ?? '127.0.0.1';
  const links = new Set<Link>();
  let mode: ProxyMode = PASS;
  let accepted = 0;

  const reset = (link: Link) => {
    links.delete(link);
    link.client.resetAndDestroy();
    link.upstream.resetAndDestroy();
  };

  const forward = (link: Link, from: net.Socket, to: net.Socket, dir: 'up' | 'down') => {
    from.on('data', (chunk: Buffer) => {
      const m = link.mode;
      if (m.kind === 'pass') {
        if (!to.destroyed) to.write(chunk);
      } else if (m.kind === 'delay') {
        const at = Math.max(Date.now() + m.ms, link.due[dir]);
        link.due[dir] = at;
        setTimeout(() => {
          if (link.mode.kind !== 'blackhole' && !to.destroyed) to.write(chunk);
        }, at - Date.now());
      }
      // blackhole: dropped; reset: the sockets are gone already.
    });
    // An end that closes or fails takes the other end with it, like the peer of a real connection —
    // except in a blackhole, where nothing reaches the other side, not even the close.
    const closeOther = (hard: boolean) => {
      if (link.mode.kind === 'blackhole') return;
      links.delete(link);
      if (hard) to.resetAndDestroy();
      else to.end();
    };
    from.on('end', () => closeOther(false));
    from.on('error', () => closeOther(true));
    from.on('close', () => {
      if (link.mode.kind === 'blackhole' && link.client.destroyed && link.upstream.destroyed) links.delete(link);
    });
  };

  let nextId = 0;
  const server = net.createServer({ pauseOnConnect: true }, (client) => {
    accepted++;
    if (mode.kind === 'reset') {
      client.on('error', () => undefined);
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect({ host: targetHost, port: options.targetPort });
    const link: Link = { id: nextId++, client, upstream, mode, due: { up: 0, down: 0 } };
    links.add(link);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    forward(link, client, upstream, 'up');
    forward(link, upstream, client, 'down');
    client.resume();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });

  return {
    port: options.port,
    target: `${targetHost}:${options.targetPort}`,
    get mode() {
      return mode;
    },
    get accepted() {
      return accepted;
    },
    open: () => [...links].map((l) => ({ id: l.id, mode: l.mode.kind })),
    setMode(next, scope = 'all') {
      mode = next;
      if (scope === 'new') return;
      for (const link of [...links]) {
        if (next.kind === 'reset') reset(link);
        else if (link.mode.kind !== 'blackhole') link.mode = next; // a blackholed link's bytes are gone for good
      }
    },
    async close() {
      for (const link of [...links]) reset(link);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
