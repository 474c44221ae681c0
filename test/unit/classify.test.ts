import { KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError, KafkaJSConnectionError } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { classifyPublishError, POISON_TYPES, ROW_FAILURE_CLASS } from '../../src/publisher/classify.js';
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

describe('classifyPublishError: every listed type, and how causes are walked', () => {
  it.each([
    'OUT_OF_ORDER_SEQUENCE_NUMBER',
    'UNKNOWN_PRODUCER_ID',
    'INVALID_PRODUCER_EPOCH',
    'INVALID_PRODUCER_ID_MAPPING',
    'PRODUCER_FENCED',
    'PUBLISH_TIMEOUT',
  ])('%s is fatal for the producer', (type) => {
    expect(classifyPublishError(protocol(type)).kind).toBe('fatal-producer');
  });

  it.each([
    'MESSAGE_TOO_LARGE',
    'RECORD_LIST_TOO_LARGE',
    'INVALID_RECORD',
    'CORRUPT_MESSAGE',
    'INVALID_TOPIC_EXCEPTION',
    'TOPIC_AUTHORIZATION_FAILED',
    'UNKNOWN_TOPIC_OR_PARTITION',
  ])('%s is poison', (type) => {
    expect(classifyPublishError(protocol(type)).kind).toBe('poison');
  });

  it('follows cause, originalError and errors[], and reports the outermost type', () => {
    const viaCause = Object.assign(new Error('outer'), { type: 'REQUEST_TIMED_OUT', cause: protocol('PRODUCER_FENCED') });
    expect(classifyPublishError(viaCause)).toMatchObject({ kind: 'fatal-producer', type: 'PRODUCER_FENCED', message: 'outer' });
    const viaOriginal = Object.assign(new Error('outer'), { originalError: protocol('MESSAGE_TOO_LARGE') });
    expect(classifyPublishError(viaOriginal).kind).toBe('poison');
    const retriable = Object.assign(new Error('outer'), { type: 'REQUEST_TIMED_OUT', cause: protocol('NOT_LEADER_FOR_PARTITION', true) });
    expect(classifyPublishError(retriable)).toEqual({ kind: 'retriable', type: 'REQUEST_TIMED_OUT', message: 'outer' });
  });

  it('skips non-string types and survives odd values', () => {
    const numeric = Object.assign(new Error('n'), { type: 42, cause: protocol('NOT_LEADER_FOR_PARTITION', true) });
    expect(classifyPublishError(numeric).type).toBe('NOT_LEADER_FOR_PARTITION');
    expect(classifyPublishError(null)).toEqual({ kind: 'retriable', type: undefined, message: 'null' });
    expect(classifyPublishError(undefined)).toEqual({ kind: 'retriable', type: undefined, message: 'undefined' });
    expect(classifyPublishError('text')).toEqual({ kind: 'retriable', type: undefined, message: 'text' });
    expect(classifyPublishError({ cause: null, errors: [null, 'x'] }).kind).toBe('retriable');
  });

  it('ends on cycles and looks at most 8 wrappers deep', () => {
    const cyclic = new Error('cycle') as Error & { cause?: unknown; originalError?: unknown };
    cyclic.cause = cyclic;
    cyclic.originalError = cyclic;
    expect(classifyPublishError(cyclic).kind).toBe('retriable');
    const wrap = (depth: number) => {
      let err: unknown = protocol('PRODUCER_FENCED');
      for (let i = 0; i < depth; i++) err = Object.assign(new Error(`w${i}`), { cause: err });
      return err;
    };
    expect(classifyPublishError(wrap(8)).kind).toBe('fatal-producer');
    expect(classifyPublishError(wrap(9)).kind).toBe('retriable');
  });

  it('maps each row-level Kafka error to the class recorded for the row', () => {
    expect(ROW_FAILURE_CLASS).toEqual({
      MESSAGE_TOO_LARGE: 'too-large',
      RECORD_LIST_TOO_LARGE: 'too-large',
      INVALID_RECORD: 'refused',
      CORRUPT_MESSAGE: 'refused',
      INVALID_TOPIC_EXCEPTION: 'refused',
      INVALID_TIMESTAMP: 'refused',
      TOPIC_AUTHORIZATION_FAILED: 'not-authorized',
      UNKNOWN_TOPIC_OR_PARTITION: 'unknown-topic',
    });
    expect([...POISON_TYPES].sort()).toEqual(Object.keys(ROW_FAILURE_CLASS).sort());
  });
});
