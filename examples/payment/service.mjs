// The payment service: POST /payments { customer, amount } with an Idempotency-Key header.
// In one transaction: the idempotency key, the charge, and its outbox event (payments.charged).
import express from 'express';
import { idempotent } from 'outbox-relay/idempotency/express';
import { outboxProducer } from 'outbox-relay/producer';

/**
 * @param {{ pool: import('pg').Pool, schema: string, topic: string, store: import('outbox-relay/idempotency').IdempotencyStore }} options
 */
export function paymentService({ pool, schema, topic, store }) {
  const outbox = outboxProducer({ schema, table: 'outbox' });
  const app = express();
  let holdNext = false;
  const held = [];

  // For the example only: hold the next response back after its transaction committed, as a slow
  // network would, so the client gives up although the server charged.
  app.use((_req, res, next) => {
    if (holdNext) {
      holdNext = false;
      const json = res.json.bind(res);
      res.json = (body) => {
        held.push(() => json(body));
        return res;
      };
    }
    next();
  });

  app.post(
    '/payments',
    express.json(),
    idempotent(store, async (req, tx) => {
      const { customer, amount } = req.body ?? {};
      if (typeof customer !== 'string' || !Number.isSafeInteger(amount) || amount <= 0) {
        return { status: 400, body: { error: 'customer (string) and amount (positive integer, cents) are required' } };
      }
      const { rows } = await tx.query(`INSERT INTO ${schema}.charges (customer, amount) VALUES ($1, $2) RETURNING id`, [customer, amount]);
      const chargeId = rows[0].id;
      await outbox.enqueue(tx, { topic, key: customer, payload: { chargeId, customer, amount }, headers: { type: 'PaymentCharged' } });
      return { status: 201, body: { chargeId, customer, amount }, headers: { Location: `/payments/${chargeId}` } };
    }),
  );
  app.use((err, _req, res, _next) => res.status(500).json({ error: err.message }));

  return {
    app,
    /** Hold the next response back (after its commit) until releaseHeld(). */
    holdNextResponse() {
      holdNext = true;
    },
    releaseHeld() {
      for (const send of held.splice(0)) send();
    },
  };
}
