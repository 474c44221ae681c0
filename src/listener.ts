/**
 * The wake-up listener: one dedicated LISTEN connection (pg-listen; never a pooled client, because
 * LISTEN state belongs to a session). A notification only shortens the relay's sleep: correctness
 * never depends on it, polling stays the safety net.
 *
 * pg-listen's defaults are unsafe for a daemon: it stops reconnecting after 3 s and then only emits
 * "error". Here:
 * - its own reconnect uses capped, jittered backoff for up to `reconnectWindowMs`;
 * - a supervisor loop around it replaces the whole subscriber (with backoff, forever) if pg-listen
 *   gives up or the first connect fails, so the listener always comes back by itself;
 * - a heartbeat query every `heartbeatMs` (pg-listen's "paranoid checking", bounded by query_timeout
 *   so a half-open socket cannot hang it) detects a dead connection and triggers the reconnect;
 * - every (re)connect calls onConnected(): the relay runs a catch-up claim, because notifications sent
 *   while the connection was down are lost.
 */
import pgListen, { type Subscriber } from 'pg-listen';
import { backoffDelay } from './backoff.js';
import { describeError } from './errors.js';
import type { Logger } from './log.js';
import { sleep } from './sleep.js';

// pg-listen is CommonJS with `exports.default`; under NodeNext ESM the default import is the exports object.
type CreateSubscriber = typeof pgListen.default;
const pgListenModule = pgListen as unknown as CreateSubscriber | { default: CreateSubscriber };
const createSubscriber: CreateSubscriber = typeof pgListenModule === 'function' ? pgListenModule : pgListenModule.default;

export interface ListenerOptions {
  databaseUrl: string;
  channel: string;
  heartbeatMs: number;
  connectTimeoutMs: number;
  applicationName: string;
  /** How long pg-listen itself retries before the supervisor replaces it. */
  reconnectWindowMs?: number;
  log: Logger;
  onNotify: () => void;
  /** The LISTEN connection is up; reconnect is false the first time. */
  onConnected: (reconnect: boolean) => void;
}

export class WakeListener {
  #connected = false;
  #closed = false;
  #subscriber: Subscriber | undefined;
  #supervisor: Promise<void> | undefined;
  #abort = new AbortController();

  constructor(private readonly options: ListenerOptions) {}

  get connected(): boolean {
    return this.#connected;
  }

  /** Starts connecting in the background; never throws (the relay polls meanwhile). */
  start(): void {
    this.#supervisor ??= this.#supervise();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#abort.abort();
    this.#connected = false;
    await this.#subscriber?.close().catch(() => undefined);
    await this.#supervisor;
  }

  async #supervise(): Promise<void> {
    const { log } = this.options;
    let attempt = 0;
    while (!this.#closed) {
      const subscriber = this.#create();
      this.#subscriber = subscriber;
      const gaveUp = new Promise<unknown>((resolve) => subscriber.events.on('error', resolve));
      try {
        await subscriber.connect();
        await subscriber.listenTo(this.options.channel);
        attempt = 0;
        this.#markConnected(false);
        const err = await Promise.race([gaveUp, closedPromise(this.#abort.signal)]);
        if (!this.#closed) log.warn({ err: describeError(err) }, 'LISTEN connection gave up reconnecting; replacing it');
      } catch (err) {
        // Close at once: a failed pg.Client still emits "end", which would start pg-listen's own
        // reconnect loop for a subscriber we are discarding.
        void subscriber.close().catch(() => undefined);
        if (!this.#closed) log.warn({ err: describeError(err), attempt }, 'LISTEN connection failed; relay keeps polling');
      }
      this.#connected = false;
      await subscriber.close().catch(() => undefined);
      if (this.#closed) break;
      await sleep(backoffDelay(attempt++, { initialMs: 200, maxMs: 5000 }), this.#abort.signal);
    }
  }

  #markConnected(reconnect: boolean): void {
    this.#connected = true;
    this.options.log.info({ channel: this.options.channel, reconnect }, 'listening for outbox notifications');
    this.options.onConnected(reconnect);
  }

  #create(): Subscriber {
    const o = this.options;
    const subscriber = createSubscriber(
      {
        connectionString: o.databaseUrl,
        application_name: o.applicationName,
        connectionTimeoutMillis: o.connectTimeoutMs,
        query_timeout: o.heartbeatMs,
        keepAlive: true,
      },
      {
        retryInterval: (attempt: number) => backoffDelay(attempt, { initialMs: 100, maxMs: 2000 }),
        retryLimit: Infinity,
        retryTimeout: o.reconnectWindowMs ?? 30_000,
        paranoidChecking: o.heartbeatMs,
        // Payloads are hints, not data: never let a non-JSON NOTIFY payload become an "error".
        parse: (payload: string) => payload,
      },
    );
    subscriber.events.on('notification', () => o.onNotify());
    subscriber.events.on('reconnect', (attempt: number) => {
      if (attempt === 1) o.log.warn({ channel: o.channel }, 'LISTEN connection lost; reconnecting (relay keeps polling)');
      this.#connected = false;
    });
    // pg-listen emits "connected" after its own reconnects (and after the first connect, which the
    // supervisor reports itself once LISTEN is in place).
    let first = true;
    subscriber.events.on('connected', () => {
      // pg-listen's reconnect loop does not look at close(): a reconnect that finishes after we
      // closed must be closed again, or it would keep a connection and a heartbeat timer alive.
      if (this.#closed) {
        void subscriber.close().catch(() => undefined);
        return;
      }
      if (first) {
        first = false;
        return;
      }
      this.#markConnected(true);
    });
    return subscriber;
  }
}

function closedPromise(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
