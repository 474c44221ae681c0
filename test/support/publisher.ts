/**
 * A seam around the real KafkaPublisher (real producer, real broker): a test decides what each send
 * does (fail, stall, or pass through to the real one) without mocking Kafka.
 */
import { inject } from 'vitest';
import { KafkaPublisher, type Publisher } from '../../src/publisher/kafka.js';
import type { OutboxRow } from '../../src/sql/claimBatch.js';
import { silentLog } from './outbox.js';

export function realPublisher(timeoutMs = 10_000): KafkaPublisher {
  return new KafkaPublisher({ brokers: inject('kafkaBrokers').split(','), clientId: 'test', timeoutMs, log: silentLog });
}

export class SeamPublisher implements Publisher {
  readonly recreated: string[] = [];
  /** performance.now() of every send() call, in order. */
  readonly sendTimes: number[] = [];
  constructor(
    readonly real: KafkaPublisher,
    /** Called for send number `n` (1-based); `send` passes the chunks on to the real publisher. */
    private readonly onSend: (n: number, send: () => Promise<void>) => Promise<void>,
  ) {}
  connect() {
    return this.real.connect();
  }
  send(chunks: OutboxRow[][], timeoutMs?: number) {
    this.sendTimes.push(performance.now());
    return this.onSend(this.sendTimes.length, () => this.real.send(chunks, timeoutMs));
  }
  missingTopics(topics: string[]) {
    return this.real.missingTopics(topics);
  }
  partitionsOfLastSend() {
    return this.real.partitionsOfLastSend();
  }
  async recreate(reason: string) {
    this.recreated.push(reason);
    await this.real.recreate(reason);
  }
  disconnect() {
    return this.real.disconnect();
  }
}
