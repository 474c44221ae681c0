import { describe, expect, it } from 'vitest';
import { loadMigrations, renderMigration } from '../../src/migrate.js';
import { migrationPlaceholders, outboxNames } from '../../src/names.js';

describe('migrations', () => {
  it('are numbered 1..n and every placeholder they use is known', () => {
    const migrations = loadMigrations();
    expect(migrations.map((m) => m.version)).toEqual(migrations.map((_, i) => i + 1));
    const placeholders = migrationPlaceholders(outboxNames('app', 'events'));
    for (const m of migrations) {
      const sql = renderMigration(m.sql, placeholders);
      expect(sql).not.toMatch(/\{\{/);
      expect(sql).toContain('"app"."events'); // the outbox or one of its companion tables
    }
  });

  it('rejects an unknown placeholder before running anything', () => {
    expect(() => renderMigration('SELECT {{nope}}', {})).toThrow('unknown placeholder {{nope}}');
  });

  it('derives all object names from schema and table', () => {
    const n = outboxNames('app', 'events');
    expect(n).toMatchObject({
      outbox: '"app"."events"',
      wakeup: '"app"."events_wakeup"',
      migrations: '"app"."events_migrations"',
      channel: 'app.events',
    });
  });
});
