/**
 * The worked example (examples/payment, `npm run example`) under its forced failures: the client's
 * first request times out after the server committed and is retried; relay #1 is SIGKILLed after
 * Kafka acknowledged the event and before marking it, so relay #2 publishes it again. Exactly one
 * of each effect must come out. Runs the built package (dist/; `npm test` builds first).
 */
import { describe, expect, inject, it } from 'vitest';
import { runExample } from '../../../examples/payment/run.mjs';
import { uniqueName } from '../../support/outbox.js';

describe('worked example: payment service + ledger consumer', () => {
  it('one charge, one outbox event delivered twice, one ledger entry, under a retried request and a relay killed mid-batch', async () => {
    const lines: string[] = [];
    const r = await runExample({
      databaseUrl: inject('databaseUrl'),
      kafkaBrokers: inject('kafkaBrokers'),
      schema: uniqueName('payex'),
      say: (line) => lines.push(line),
      keepSchema: false,
    });
    // The forced failures did happen.
    expect(r.firstAttempt).toBe('timed out');
    expect(r.afterTimeout).toMatchObject({ charges: 1, keys: 1, outboxRows: 1 }); // the server had charged and committed
    expect(r.relay1Signal).toBe('SIGKILL');
    expect(r.kafkaMessages).toBe(2); // the event really is in Kafka twice
    // … and each effect happened once.
    expect(r.retry).toMatchObject({ status: 201, replayed: true });
    expect(r.deliveries).toEqual(['processed', 'duplicate']);
    expect(r.final).toEqual({ charges: 1, outboxRows: 1, outboxPending: 0, keys: 1, ledgerEntries: 1 });
    expect(r.balances).toEqual({ 'customer:alice': -r.retry.body.amount, merchant: r.retry.body.amount });
    expect(r.reuseStatus).toBe(422);
    expect(lines.join('\n')).toMatch(/inbox: already processed, SKIPPED/);
  });
});
