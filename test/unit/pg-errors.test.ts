import { describe, expect, it } from 'vitest';
import { outboxNames } from '../../src/names.js';
import { RepeatedFailures, classifyPgError, grantsFor, migrateRefusalMessage, refusalMessage, roleOf } from '../../src/pg-errors.js';

/** What node-postgres throws for a server error: an Error with the SQLSTATE in `code`. */
const pgError = (code: string, message = `error ${code}`) => Object.assign(new Error(message), { code });

describe('classifyPgError', () => {
  it.each([
    ['42501', 'insufficient_privilege', 'grant'],
    ['42P01', 'undefined_table', 'migrate'],
    ['42703', 'undefined_column', 'migrate'],
    ['42883', 'undefined_function', 'migrate'],
    ['3F000', 'invalid_schema_name', 'migrate'],
  ])('%s (%s) is fatal: fix by %s', (code, condition, fix) => {
    expect(classifyPgError(pgError(code))).toEqual({ kind: 'fatal', code, condition, fix });
  });

  it.each([
    ['40001', 'serialization_failure'],
    ['40P01', 'deadlock_detected'],
    ['57P01', 'admin_shutdown'],
    ['57P02', 'crash_shutdown'],
    ['57P03', 'cannot_connect_now'],
    ['25P03', 'idle_in_transaction_session_timeout'],
    ['08006', 'connection_exception'],
    ['08000', 'connection_exception'],
    ['53100', 'insufficient_resources'],
    ['53300', 'insufficient_resources'],
  ])('%s is retried (%s)', (code, condition) => {
    expect(classifyPgError(pgError(code))).toEqual({ kind: 'retry', code, condition });
  });

  it('anything else is unknown (retried, bounded when completing); so are errors without a SQLSTATE', () => {
    expect(classifyPgError(pgError('23505'))).toEqual({ kind: 'unknown', code: '23505' });
    expect(classifyPgError(pgError('P0001'))).toEqual({ kind: 'unknown', code: 'P0001' });
    expect(classifyPgError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toEqual({ kind: 'unknown' });
    expect(classifyPgError(new Error('Client has encountered a connection error and is not queryable'))).toEqual({ kind: 'unknown' });
    expect(classifyPgError(undefined)).toEqual({ kind: 'unknown' });
  });
});

describe('refusalMessage', () => {
  const names = outboxNames('app', 'outbox');

  it('names what PostgreSQL refused, its SQLSTATE, the step, and the GRANTs that fix it, on one line', () => {
    const line = refusalMessage(pgError('42501', 'permission denied for table outbox'), { names, role: 'relay', action: 'claiming rows' });
    expect(line).toBe(
      'the database refuses what the relay needs: permission denied for table outbox (SQLSTATE 42501 insufficient_privilege) while claiming rows; ' +
        `grant the relay's role what it needs, as the table owner: ${grantsFor(names, 'relay')}`,
    );
    expect(line).toContain('GRANT SELECT, UPDATE, DELETE ON "app"."outbox" TO "relay"');
    expect(line).not.toContain('\n');
  });

  it('a missing object points at migrate', () => {
    const line = refusalMessage(pgError('42P01', 'relation "app.outbox" does not exist'), { names, role: 'relay', action: 'claiming rows' });
    expect(line).toMatch(/SQLSTATE 42P01 undefined_table.*run `outbox-relay migrate` with the same DATABASE_URL/);
  });

  it('migrate refused (42501): says to run migrate as a role that may create objects, and the relay role\'s GRANTs; nothing else', () => {
    const line = migrateRefusalMessage(pgError('42501', 'permission denied for database app'), { names, role: 'relay' });
    expect(line).toMatch(/^migrate was refused: permission denied for database app \(SQLSTATE 42501 insufficient_privilege\); run `outbox-relay migrate` as a role that may create objects/);
    expect(line).toContain(grantsFor(names, 'relay'));
    expect(migrateRefusalMessage(pgError('42P01'), { names, role: 'relay' })).toBeUndefined();
    expect(migrateRefusalMessage(new Error('boom'), { names, role: 'relay' })).toBeUndefined();
  });

  it('is undefined for errors worth retrying', () => {
    expect(refusalMessage(pgError('57P01'), { names, role: 'relay', action: 'x' })).toBeUndefined();
    expect(refusalMessage(new Error('boom'), { names, role: 'relay', action: 'x' })).toBeUndefined();
  });

  it('roleOf reads the user from the URL, never the password', () => {
    expect(roleOf('postgres://relay%20user:secret@db/app')).toBe('relay user');
    expect(roleOf('postgres://db/app')).toBe('<the relay’s role>');
    expect(grantsFor(names, '<the relay’s role>')).toContain('TO <the relay’s role>');
  });
});

describe('RepeatedFailures', () => {
  it('counts identical consecutive failures, restarts on a different one, ignores retry kinds, resets', () => {
    const r = new RepeatedFailures();
    const trigger = () => pgError('P0001', 'outbox rows may not be deleted');
    expect(r.note(trigger())).toBe(1);
    expect(r.note(trigger())).toBe(2);
    expect(r.note(pgError('57P01'))).toBe(0); // a terminated connection neither counts nor breaks the run
    expect(r.note(trigger())).toBe(3);
    expect(r.note(pgError('P0001', 'another message'))).toBe(1);
    r.reset();
    expect(r.note(trigger())).toBe(1);
  });
});
