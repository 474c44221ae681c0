/**
 * The librdkafka publisher's delivery errors carry the Kafka error type the relay classifies
 * (src/publisher/rdkafka.ts DeliveryError → src/publisher/classify.ts), so a refused row is isolated,
 * an idempotence failure replaces the producer and a timeout is treated as an ambiguous ack.
 * Pure: no librdkafka needed.
 */
import { describe, expect, it } from 'vitest';
import { classifyPublishError } from '../../src/publisher/classify.js';
import { DeliveryError } from '../../src/publisher/rdkafka.js';

const delivery = (code: number) => new DeliveryError(code, `error ${code}`, 'orders', 2);

describe('DeliveryError (librdkafka delivery reports)', () => {
  it.each([
    [10, 'MESSAGE_TOO_LARGE'],
    [3, 'UNKNOWN_TOPIC_OR_PARTITION'],
    [-188, 'UNKNOWN_TOPIC_OR_PARTITION'],
    [29, 'TOPIC_AUTHORIZATION_FAILED'],
    [87, 'INVALID_RECORD'],
    [32, 'INVALID_TIMESTAMP'],
  ])('code %i is a row failure of type %s', (code, type) => {
    expect(classifyPublishError(delivery(code))).toMatchObject({ kind: 'poison', type });
  });

  it.each([
    [45, 'OUT_OF_ORDER_SEQUENCE_NUMBER'],
    [59, 'UNKNOWN_PRODUCER_ID'],
    [-150, 'INVALID_PRODUCER_EPOCH'],
    [-192, 'PUBLISH_TIMEOUT'],
  ])('code %i replaces the producer (%s)', (code, type) => {
    expect(classifyPublishError(delivery(code))).toMatchObject({ kind: 'fatal-producer', type });
  });

  it('anything else is retried, and the message names the partition', () => {
    const err = new DeliveryError(-195, 'Local: Broker transport failure', 'orders', undefined);
    expect(classifyPublishError(err)).toMatchObject({ kind: 'retriable', type: undefined });
    expect(err.message).toBe('librdkafka could not deliver to orders:?: Local: Broker transport failure (code -195)');
  });
});
