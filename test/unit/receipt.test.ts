import { describe, expect, it } from 'vitest';
import { checkReceipt, type PartitionAck, type SentMessage } from '../../src/publisher/receipt.js';

const sent = (...tps: [string, number | undefined][]): SentMessage[] => tps.map(([topic, partition]) => ({ topic, partition }));
const ack = (topic: string, partition: number, baseOffset: string | number | undefined = '0', errorCode = 0): PartitionAck => ({
  topic,
  partition,
  errorCode,
  baseOffset,
});

describe('checkReceipt', () => {
  const batch = sent(['a', 0], ['a', 0], ['a', 1], ['b', 0]);

  it('is complete when every partition sent to has one good acknowledgement', () => {
    expect(checkReceipt(batch, [ack('a', 0, '10'), ack('a', 1, '0'), ack('b', 0, 7)])).toEqual({
      complete: true,
      acknowledged: 4,
      missing: [],
      problems: [],
    });
  });

  it('names the partition a resolved send skipped (kafkajs issue #1303) and counts only what was acknowledged', () => {
    const r = checkReceipt(batch, [ack('a', 0), ack('b', 0)]);
    expect(r).toEqual({ complete: false, acknowledged: 3, missing: ['a:1'], problems: [] });
  });

  it('an empty receipt for a non-empty send is incomplete', () => {
    expect(checkReceipt(batch, [])).toMatchObject({ complete: false, acknowledged: 0, missing: ['a:0', 'a:1', 'b:0'] });
  });

  it('a message never assigned a partition is missing', () => {
    const r = checkReceipt(sent(['a', 0], ['a', undefined]), [ack('a', 0)]);
    expect(r).toMatchObject({ complete: false, acknowledged: 1, missing: ['a:?'] });
  });

  it('an acknowledgement with an error code, without an offset or with a negative one does not count', () => {
    for (const bad of [ack('a', 1, '5', 6), { ...ack('a', 1), baseOffset: undefined }, { ...ack('a', 1), baseOffset: null as never }, ack('a', 1, ''), ack('a', 1, '-1'), ack('a', 1, 'x')]) {
      const r = checkReceipt(batch, [ack('a', 0), bad, ack('b', 0)]);
      expect(r.complete).toBe(false);
      expect(r.missing).toEqual(['a:1']);
      expect(r.acknowledged).toBe(3);
      expect(r.problems).toHaveLength(1);
    }
  });

  it('offset 0 is a good offset', () => {
    expect(checkReceipt(sent(['a', 0]), [ack('a', 0, '0')]).complete).toBe(true);
    expect(checkReceipt(sent(['a', 0]), [ack('a', 0, 0)]).complete).toBe(true);
  });

  it('an acknowledgement for a partition nothing was sent to, or a second one, is a problem', () => {
    const extra = checkReceipt(sent(['a', 0]), [ack('a', 0), ack('a', 2)]);
    expect(extra).toMatchObject({ complete: false, acknowledged: 1, missing: [] });
    expect(extra.problems).toEqual(['a:2: acknowledged but nothing was sent there']);
    const twice = checkReceipt(sent(['a', 0]), [ack('a', 0), ack('a', 0, '3')]);
    expect(twice.complete).toBe(false);
    expect(twice.problems).toEqual(['a:0: acknowledged twice']);
  });

  it('the same partition number in two topics are two partitions', () => {
    expect(checkReceipt(sent(['a', 0], ['b', 0]), [ack('a', 0)]).missing).toEqual(['b:0']);
  });

  it('says what is wrong with each bad acknowledgement', () => {
    const r = checkReceipt(sent(['a', 0], ['a', 1], ['a', 2]), [ack('a', 0, '1', 6), ack('a', 1, '-1'), { ...ack('a', 2), baseOffset: null as never }]);
    expect(r.problems).toEqual(['a:0: error code 6', 'a:1: no offset (-1)', 'a:2: no offset (null)']);
    expect(r.missing).toEqual(['a:0', 'a:1', 'a:2']);
  });
});
