/**
 * The start-up Kafka preflight against the real broker: a topic with pending rows that does not
 * exist is named in one warn line with its fix; topic size limits are read (describeConfigs) and a
 * row over its topic's max.message.bytes is parked as too-large without being sent.
 */
import { describe, expect, it } from 'vitest';
import { useFixture } from '../support/fixture.js';
import { createTopic } from '../support/kafka.js';
import { uniqueName, waitFor } from '../support/outbox.js';
import { failIfExits } from '../support/relay-process.js';

describe('Kafka preflight at start-up', () => {
  const fixture = useFixture();

  it('warns about each missing topic with pending rows, and parks a row over its topic limit without a send', async () => {
    const { outbox } = fixture;
    const small = await createTopic(1, 'small', undefined, 1, [{ name: 'max.message.bytes', value: '2000' }]);
    const missing = uniqueName('nope');
    await outbox.insert([
      { topic: small, key: 'ok', payload: Buffer.alloc(100, 'a') },
      { topic: small, key: 'big', payload: Buffer.alloc(3000, 'b') },
      { topic: missing, key: 'm', payload: Buffer.from('{}') },
      { topic: missing, key: 'm', payload: Buffer.from('{}') },
    ]);
    const relay = fixture.spawn({ OUTBOX_POLL_INTERVAL_MS: '100' });
    const warned = await relay.waitForLog((l) => l.msg.startsWith('preflight kafka-topics:'));
    expect(warned).toMatchObject({ level: 'warn', check: 'kafka-topics' });
    expect(warned.msg).toBe(
      `preflight kafka-topics: topic ${missing} has 2 pending row(s) but does not exist: create it (kafka-topics --create --topic ${missing}); meanwhile its rows wait, and are parked as unknown-topic after OUTBOX_UNKNOWN_TOPIC_DEAD_AFTER_MS`,
    );
    const passed = await relay.waitForLog((l) => l.msg.startsWith('Kafka preflight:'));
    expect(passed.checks).toMatchObject({
      'kafka-api-versions': expect.stringMatching(/speaks Produce v\d+-v\d+ and InitProducerId/),
      'kafka-idempotence': expect.any(String),
      'kafka-message-size': expect.stringContaining(`(${small}: 2000)`),
    });
    const failures = await Promise.race([
      waitFor(
        'the big row to be parked',
        async () => {
          const { rows } = await outbox.pool.query<{ key: string; error_class: string; last_error: string }>(
            `SELECT o.key, f.error_class, f.last_error FROM ${outbox.names.failures} f JOIN ${outbox.names.outbox} o USING (seq) WHERE o.topic = $1`,
            [small],
          );
          return rows.length > 0 ? rows : undefined;
        },
        30_000,
        100,
      ),
      failIfExits(relay),
    ]);
    // The broker's refusal would read "Kafka refused the row: MESSAGE_TOO_LARGE": this one never went out.
    // 3,000 payload + key + the id and seq headers (the seq's digits vary with the row's position).
    expect(failures).toEqual([{ key: 'big', error_class: 'too-large', last_error: expect.stringMatching(new RegExp(`^row is 304[5-9] bytes, more than topic ${small}'s max\\.message\\.bytes 2000$`)) }]);
    await waitFor('the good row to be published', async () => (await outbox.pool.query(`SELECT 1 FROM ${outbox.names.outbox} WHERE key = 'ok'`)).rowCount === 0, 30_000);

    // A topic created after start-up: its limit is read while running, in a batch that also has rows
    // for the topic that still does not exist (describeConfigs fails as a whole for a missing topic).
    const later = await createTopic(1, 'later', undefined, 1, [{ name: 'max.message.bytes', value: '2000' }]);
    await outbox.insert([
      { topic: uniqueName('nope'), key: 'm2', payload: Buffer.from('{}') }, // a topic not asked about yet
      { topic: later, key: 'big2', payload: Buffer.alloc(3000, 'c') },
      { topic: later, key: 'ok2', payload: Buffer.alloc(10, 'd') },
    ]);
    const parked = await Promise.race([
      waitFor(
        'the second big row to be parked',
        async () => (await outbox.pool.query<{ last_error: string }>(`SELECT f.last_error FROM ${outbox.names.failures} f JOIN ${outbox.names.outbox} o USING (seq) WHERE o.key = 'big2'`)).rows[0],
        30_000,
        100,
      ),
      failIfExits(relay),
    ]);
    expect(parked.last_error).toMatch(new RegExp(`^row is 304[5-9] bytes, more than topic ${later}'s max\\.message\\.bytes 2000$`));
  });
});
