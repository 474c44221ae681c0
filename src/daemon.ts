/**
 * `outbox-relay run` as a daemon: the relay loop plus what operators watch it with — the metrics
 * registry, the health record, the HTTP listener and the periodic backlog query. Each lives in its own
 * module; this file only wires them together and orders their start and stop. The loop itself
 * (src/relay/relay.ts) knows none of them: it reports to observers (src/relay/observer.ts).
 */
import { BacklogPoller } from './backlog/poller.js';
import type { RunConfig } from './config.js';
import { HealthTracker, healthBounds } from './health/health.js';
import { parseHttpAddr } from './http/address.js';
import { startHttpServer, type RunningHttpServer } from './http/server.js';
import type { Logger } from './log.js';
import { createMetrics, type RelayMetrics } from './metrics/registry.js';
import { Relay, type RelayHooks } from './relay/relay.js';

export class Daemon {
  readonly relay: Relay;
  readonly metrics: RelayMetrics;
  readonly health = new HealthTracker();
  readonly #config: RunConfig;
  readonly #log: Logger;
  readonly #poller: BacklogPoller;
  #http: RunningHttpServer | undefined;
  #stopping: Promise<void> | undefined;

  constructor(config: RunConfig, log: Logger, options: { version: string; hooks?: RelayHooks }) {
    this.#config = config;
    this.#log = log;
    const bounds = healthBounds(config);
    this.metrics = createMetrics(options.version, {
      listening: () => this.relay.listening,
      ready: () => this.health.readiness(bounds).ok,
      standby: () => this.health.record.standby,
      ownedPartitions: () => this.relay.ownedPartitions.length,
    });
    this.relay = new Relay(config, log, { hooks: options.hooks, observers: [this.metrics.observer, this.health.observer] });
    this.#poller = new BacklogPoller({
      databaseUrl: config.databaseUrl,
      names: this.relay.names,
      mapping: this.relay.mapping,
      intervalMs: config.backlogIntervalMs,
      connectTimeoutMs: config.dbConnectTimeoutMs,
      blockKeys: config.failedRowPolicy === 'block-key',
      log,
      onSample: (sample) => this.metrics.setBacklog(sample),
    });
  }

  /** The HTTP listener's port (undefined when it is off). */
  get httpPort(): number | undefined {
    return this.#http?.port;
  }

  /**
   * Start the listener (a taken port fails here, before anything else starts), the backlog query and
   * the loop; resolves when the loop has stopped (see Relay.run).
   */
  async run(): Promise<void> {
    const address = parseHttpAddr(this.#config.httpAddr);
    if (address) {
      const bounds = healthBounds(this.#config);
      this.#http = await startHttpServer({
        address,
        setting: this.#config.httpAddr,
        registry: this.metrics.registry,
        liveness: () => this.health.liveness(bounds),
        readiness: () => this.health.readiness(bounds),
        log: this.#log,
      });
    }
    if (this.#stopping) {
      // A signal came while the listener was starting: stop() ran before it existed.
      await this.#http?.close();
      return;
    }
    this.#poller.start();
    try {
      await this.relay.run();
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** Stop the loop (graceful, see Relay.stop), then the backlog query and the listener. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      await this.relay.stop();
      await this.#poller.stop();
      await this.#http?.close();
    })();
    return this.#stopping;
  }
}
