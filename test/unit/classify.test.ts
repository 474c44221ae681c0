import { KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError, KafkaJSConnectionError } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { classifyPublishError } from '../../src/publisher/classify.js';
import { IncompleteReceiptError } from '../../src/publisher/kafka.js';
import { DeadlineError } from '../../src/sleep.js';

const protocol = (type: string, retriable = false) => new KafkaJSProtocolError({ type, code: 0, retriable, message: type } as never);

describe('classifyPublishError', () => {
  it.each(['OUT_OF_ORDER_SEQUENCE_NUMBER', 'UNKNOWN_PRODUCER_ID', 'INVALID_PRODUCER_EPOCH'])('%s recreates the producer', (type) => {
    expect(classifyPublishError(protocol(type))).toMatchObject({ kind: 'fatal-producer', type });
  });

  it('finds a fatal error wrapped in kafkajs retry errors', () => {
    const wrapped = new KafkaJSNumberOfRetriesExceeded(protocol('OUT_OF_ORDER_SEQUENCE_NUMBER'), { retryCount: 5, retryTime: 100 });
    expect(classifyPublishError(wrapped).kind).toBe('fatal-producer');
  });

  it('treats our own publish deadline as ambiguous: replace the producer', () => {
    expect(classifyPublishError(new DeadlineError('publishing', 10))).toMatchObject({ kind: 'fatal-producer', type: 'PUBLISH_TIMEOUT' });
  });

  it('treats an incomplete receipt as a failed send: replace the producer', () => {
    const err = new IncompleteReceiptError({ complete: false, acknowledged: 2, missing: ['t:1'], problems: [] });
    expect(classifyPublishError(err)).toMatchObject({ kind: 'fatal-producer', type: 'INCOMPLETE_RECEIPT' });
    expect(err.message).toBe('Kafka acknowledged 2 messages of the chunk; not acknowledged: t:1');
  });

  it.each(['MESSAGE_TOO_LARGE', 'UNKNOWN_TOPIC_OR_PARTITION', 'TOPIC_AUTHORIZATION_FAILED'])('%s is poison for the batch', (type) => {
    expect(classifyPublishError(new AggregateError([protocol(type)])).kind).toBe('poison');
  });

  it('retries connection errors and anything unknown', () => {
    expect(classifyPublishError(new KafkaJSConnectionError('Connection error: ECONNREFUSED')).kind).toBe('retriable');
    expect(classifyPublishError(new Error('boom'))).toEqual({ kind: 'retriable', type: undefined, message: 'boom' });
    expect(classifyPublishError(protocol('NOT_LEADER_FOR_PARTITION', true))).toMatchObject({ kind: 'retriable', type: 'NOT_LEADER_FOR_PARTITION' });
  });
});
