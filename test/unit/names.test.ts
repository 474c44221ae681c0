import { describe, expect, it } from 'vitest';
import { migrationPlaceholders, outboxNames, quoteIdent, quoteLiteral } from '../../src/names.js';

describe('database object names', () => {
  it('derives every name from schema and table', () => {
    expect(outboxNames('app', 'outbox')).toEqual({
      schema: 'app',
      table: 'outbox',
      outbox: '"app"."outbox"',
      pendingIndex: '"outbox_pending_idx"',
      wakeup: '"app"."outbox_wakeup"',
      notifyFunction: '"app"."outbox_notify"',
      notifyTrigger: '"outbox_notify"',
      migrations: '"app"."outbox_migrations"',
      failures: '"app"."outbox_failures"',
      captured: '"app"."outbox_captured"',
      capturedPendingIndex: '"outbox_captured_idx"',
      captureFunction: '"app"."outbox_capture"',
      captureTrigger: '"outbox_capture"',
      forgetFunction: '"app"."outbox_forget"',
      forgetTrigger: '"outbox_forget"',
      headersCheck: '"outbox_headers_strict"',
      channel: 'app.outbox',
      members: '"app"."outbox_members"',
      leases: '"app"."outbox_leases"',
      migrationLockKey: 'outbox-relay migrate app.outbox',
      relayApplicationName: 'outbox-relay:app.outbox',
      listenApplicationName: 'outbox-relay:listen:app.outbox',
      backlogApplicationName: 'outbox-relay:backlog:app.outbox',
    });
  });

  it('keeps application names within PostgreSQL’s 63 bytes', () => {
    const names = outboxNames('s'.repeat(48), 't'.repeat(14));
    expect(names.relayApplicationName).toBe(`outbox-relay:${'s'.repeat(48)}.${'t'.repeat(14)}`.slice(0, 63));
    expect(names.relayApplicationName).toHaveLength(63);
    expect(names.listenApplicationName).toHaveLength(63);
    expect(names.listenApplicationName.startsWith('outbox-relay:listen:sss')).toBe(true);
  });

  it('quotes identifiers and literals, doubling embedded quotes', () => {
    expect(quoteIdent('a"b')).toBe('"a""b"');
    expect(quoteLiteral("it's")).toBe("'it''s'");
    expect(migrationPlaceholders(outboxNames('app', 'outbox')).channel).toBe("'app.outbox'");
    expect(migrationPlaceholders(outboxNames('app', 'outbox'))).toMatchObject({ failures: '"app"."outbox_failures"', headers_check: '"outbox_headers_strict"' });
  });
});
