/**
 * Express 5 adapter (`outbox-relay/idempotency/express`) of the request idempotency keys.
 *
 *   app.post('/payments', express.json(), idempotent(store, async (req, tx) => {
 *     const charge = await tx.query('INSERT INTO charges … RETURNING id', […]);
 *     await producer.enqueue(tx, { topic: 'payments.charged', key: …, payload: … });
 *     return { status: 201, body: { chargeId }, headers: { Location: `/payments/${chargeId}` } };
 *   }));
 *
 * Answers: the handler's response (first request) · the stored one, with `Idempotent-Replayed: true`
 * (a later duplicate) · 409 + Retry-After (a duplicate while the first still runs) · 422 (the key was
 * used with another request) · 400 (no or invalid key, unless `required: false`). A handler that
 * throws goes to next(err) and stores nothing.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type pg from 'pg';
import { fingerprintOf, validKey, type IdempotencyStore, type StoredResponse } from './index.js';

export interface ExpressIdempotencyOptions {
  /** Request header with the key (default Idempotency-Key). */
  header?: string;
  /** Refuse requests without a key with 400 (default true); false runs them without the key table. */
  required?: boolean;
  /** Key namespace, e.g. the authenticated account (default ''). */
  scope?: (req: Request) => string;
  /** What makes two requests "the same" (default method, path and query, and the parsed body). */
  fingerprint?: (req: Request) => string;
  /** Runs the handler in a transaction when `required: false` and there is no key. Default: pool from the store. */
  pool?: pg.Pool;
}

export type ExpressIdempotentHandler = (req: Request, tx: pg.PoolClient) => Promise<StoredResponse>;

export const defaultFingerprint = (req: Request): string => fingerprintOf(req.method, req.originalUrl, req.body ?? null);

function send(res: Response, response: StoredResponse, replayed: boolean): void {
  res.set(response.headers ?? {});
  if (replayed) res.set('Idempotent-Replayed', 'true');
  res.status(response.status);
  if (response.body === undefined) res.end();
  else res.json(response.body);
}

export function idempotent(store: IdempotencyStore, handler: ExpressIdempotentHandler, options: ExpressIdempotencyOptions = {}): RequestHandler {
  const header = options.header ?? 'Idempotency-Key';
  const required = options.required ?? true;
  const fingerprint = options.fingerprint ?? defaultFingerprint;
  return async (req: Request, res: Response, next: NextFunction) => {
    try {
      const key = req.get(header);
      if (key === undefined) {
        if (required) {
          res.status(400).json({ error: `the ${header} header is required for this request` });
          return;
        }
        if (!options.pool) throw new Error('idempotent(): required: false needs options.pool to run requests without a key');
        const tx = await options.pool.connect();
        try {
          await tx.query('BEGIN');
          const response = await handler(req, tx);
          await tx.query('COMMIT');
          send(res, response, false);
        } catch (err) {
          await tx.query('ROLLBACK').catch(() => undefined);
          throw err;
        } finally {
          tx.release();
        }
        return;
      }
      if (!validKey(key)) {
        res.status(400).json({ error: `the ${header} header must be 1 to 255 characters` });
        return;
      }
      const outcome = await store.execute({ key, scope: options.scope?.(req) ?? '', fingerprint: fingerprint(req) }, (tx) => handler(req, tx));
      switch (outcome.kind) {
        case 'executed':
          return send(res, outcome.response, false);
        case 'replayed':
          return send(res, outcome.response, true);
        case 'in-progress':
          res.set('Retry-After', String(outcome.retryAfterSeconds));
          res.status(409).json({ error: `a request with this ${header} is still in progress; retry after ${outcome.retryAfterSeconds} s` });
          return;
        case 'mismatch':
          res.status(422).json({ error: `this ${header} was already used for a different request` });
          return;
      }
    } catch (err) {
      next(err);
    }
  };
}
