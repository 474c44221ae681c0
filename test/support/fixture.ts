/**
 * Per-test fixture: a fresh migrated outbox in its own schema, plus cleanup of every relay the test
 * started (in-process relays are stopped, relay processes are SIGKILLed), then the schema is dropped.
 * Call useFixture() inside a describe(); read fixture.outbox inside tests.
 */
import { afterEach, beforeEach } from 'vitest';
import type { Relay } from '../../src/relay/relay.js';
import { createTestOutbox, type TestOutbox } from './outbox.js';
import { spawnRelay, type RelayProcess } from './relay-process.js';

export interface Fixture {
  readonly outbox: TestOutbox;
  /** Spawn `outbox-relay run` against this test's outbox (env is added to the outbox's env). */
  spawn(env?: Record<string, string>): RelayProcess;
  /** Start an in-process relay and stop it after the test. */
  start(relay: Relay): Relay;
}

export function useFixture(options: { migrate?: boolean } = {}): Fixture {
  let outbox: TestOutbox | undefined;
  const processes: RelayProcess[] = [];
  const relays: Relay[] = [];
  beforeEach(async () => {
    outbox = await createTestOutbox(options);
  });
  afterEach(async () => {
    await Promise.all(relays.splice(0).map((r) => r.stop()));
    for (const p of processes.splice(0)) {
      p.kill('SIGKILL');
      await p.exited;
    }
    await outbox?.drop();
    outbox = undefined;
  });
  return {
    get outbox() {
      if (!outbox) throw new Error('fixture.outbox is only available inside a test');
      return outbox;
    },
    spawn(env = {}) {
      const p = spawnRelay({ ...this.outbox.env, ...env });
      processes.push(p);
      return p;
    },
    start(relay) {
      relays.push(relay);
      void relay.run();
      return relay;
    },
  };
}
