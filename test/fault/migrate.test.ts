/**
 * Migrations as processes: ten `outbox-relay migrate` at once apply each migration once; running it
 * again is a no-op; a binary older than the schema refuses with exit code 4. Migration 2 on a populated
 * outbox under concurrent inserts, and behind a long transaction: writers are never held up for long.
 */
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { loadMigrations, migrate } from '../../src/migrate.js';
import { useFixture } from '../support/fixture.js';
import { silentLog, uniqueName, waitFor } from '../support/outbox.js';
import { spawnCli, spawnRelay } from '../support/relay-process.js';

const LATEST = loadMigrations().at(-1)!.version;

describe('outbox-relay migrate', () => {
  const fixture = useFixture({ migrate: false });

  async function ledger(): Promise<number[]> {
    const r = await fixture.outbox.pool.query<{ version: number }>(`SELECT version FROM ${fixture.outbox.names.migrations} ORDER BY version`);
    return r.rows.map((row) => row.version);
  }

  it('ten processes at once on an empty database: one applies, nine find nothing to do', async () => {
    // Barrier: hold the migration lock so all ten are provably inside migrate at the same time.
    const holder = await fixture.outbox.pool.connect();
    await holder.query("SELECT pg_advisory_lock(hashtextextended(current_database() || ' ' || $1, 0))", [fixture.outbox.names.migrationLockKey]);
    const procs = Array.from({ length: 10 }, () => spawnCli(['migrate'], { ...fixture.outbox.env, LOG_LEVEL: 'warn' }));
    try {
      await waitFor('ten migrate processes waiting on the lock', async () => {
        const r = await fixture.outbox.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a USING (pid)
           WHERE l.locktype = 'advisory' AND NOT l.granted AND a.application_name = 'outbox-relay:migrate'`,
        );
        return r.rows[0]!.n === 10;
      });
    } finally {
      await holder.query("SELECT pg_advisory_unlock(hashtextextended(current_database() || ' ' || $1, 0))", [fixture.outbox.names.migrationLockKey]);
      holder.release();
    }
    const exits = await Promise.all(procs.map((p) => p.exited));
    expect(exits.map((e) => e.code)).toEqual(Array(10).fill(0));
    const said = procs.map((p) => p.logs.map((l) => l.msg).join('\n'));
    expect(said.filter((s) => s.startsWith('migrated ')).length).toBe(1);
    expect(said.filter((s) => s.includes('already at version')).length).toBe(9);
    expect(await ledger()).toEqual(Array.from({ length: LATEST }, (_, i) => i + 1));
  });

  it('is a no-op the second time', async () => {
    const first = spawnCli(['migrate'], fixture.outbox.env);
    expect((await first.exited).code).toBe(0);
    const before = await fixture.outbox.pool.query(`SELECT version, applied_at FROM ${fixture.outbox.names.migrations}`);
    const second = spawnCli(['migrate'], fixture.outbox.env);
    expect((await second.exited).code).toBe(0);
    expect(second.logs.map((l) => l.msg)).toContain(`${fixture.outbox.schema}.outbox is already at version ${LATEST}; nothing to do`);
    const after = await fixture.outbox.pool.query(`SELECT version, applied_at FROM ${fixture.outbox.names.migrations}`);
    expect(after.rows).toEqual(before.rows);
  });

  it('a binary older than the schema refuses to run or migrate, with exit code 4', async () => {
    expect((await spawnCli(['migrate'], fixture.outbox.env).exited).code).toBe(0);
    await fixture.outbox.pool.query(`INSERT INTO ${fixture.outbox.names.migrations} (version, name) VALUES ($1, 'from_the_future')`, [LATEST + 1]);
    for (const proc of [spawnRelay(fixture.outbox.env), spawnCli(['migrate'], fixture.outbox.env)]) {
      const exit = await proc.exited;
      expect(exit.code).toBe(ExitCode.SCHEMA_AHEAD);
      expect(proc.stderr()).toBe(
        `outbox-relay: schema of ${fixture.outbox.schema}.outbox is at version ${LATEST + 1}, newer than this outbox-relay knows (${LATEST}): upgrade outbox-relay\n`,
      );
    }
  });

  it('a role that may not create objects: exit 5, one line naming what was refused and the fix, nothing created', async () => {
    const { outbox } = fixture;
    const role = uniqueName('migrate_role');
    await outbox.pool.query(`CREATE ROLE ${role} LOGIN`);
    const url = new URL(outbox.databaseUrl);
    url.username = role;
    const refused = async (expected: RegExp) => {
      const p = spawnCli(['migrate'], { ...outbox.env, DATABASE_URL: url.toString(), LOG_LEVEL: 'warn' });
      expect((await p.exited).code).toBe(ExitCode.DB_REFUSED);
      const stderr = p.stderr().trim();
      expect(stderr.split('\n')).toHaveLength(1); // no stack trace
      expect(stderr).toMatch(expected);
      expect(stderr).toContain('run `outbox-relay migrate` as a role that may create objects');
      expect(stderr).toContain(`GRANT SELECT, UPDATE, DELETE ON ${outbox.names.outbox} TO "${role}"`);
    };
    try {
      // No CREATE on the database: the schema cannot be made.
      await refused(/^outbox-relay: migrate was refused: permission denied for database \S+ \(SQLSTATE 42501 insufficient_privilege\)/);
      expect((await outbox.pool.query('SELECT to_regnamespace($1) AS s', [`"${outbox.schema}"`])).rows[0].s).toBeNull();
      // The schema exists (an administrator made it) and the role may create schemas, but not in that one.
      await outbox.pool.query(`CREATE SCHEMA "${outbox.schema}"`);
      await outbox.pool.query(`GRANT CREATE ON DATABASE "${url.pathname.slice(1)}" TO ${role}`);
      await refused(/^outbox-relay: migrate was refused: permission denied for schema \S+ \(SQLSTATE 42501/);
      expect((await outbox.pool.query('SELECT to_regclass($1) AS t', [outbox.names.outbox])).rows[0].t).toBeNull();
    } finally {
      await outbox.pool.query(`DROP OWNED BY ${role}`);
      await outbox.pool.query(`DROP ROLE ${role}`);
    }
  });

  it('run on a database that was never migrated says to migrate, with exit code 3', async () => {
    const proc = spawnRelay(fixture.outbox.env);
    expect((await proc.exited).code).toBe(ExitCode.UNAVAILABLE);
    expect(proc.stderr()).toMatch(/^outbox-relay: outbox table t_\w+\.outbox is not set up .*: run `outbox-relay migrate`/);
    expect(proc.stderr().trim().split('\n')).toHaveLength(1);
  });

  /** Inserts one-row transactions back to back until stopped; returns each insert's latency (ms). */
  function writer() {
    let stop = false;
    const latencies: number[] = [];
    const errors: unknown[] = [];
    const done = (async () => {
      while (!stop) {
        const t = performance.now();
        try {
          await fixture.outbox.pool.query(`INSERT INTO ${fixture.outbox.names.outbox} (topic, key, payload) VALUES ('t', 'w', '\\x00')`);
        } catch (err) {
          errors.push(err);
        }
        latencies.push(performance.now() - t);
      }
    })();
    return {
      latencies,
      errors,
      stop: async () => {
        stop = true;
        await done;
      },
    };
  }

  it('migration 2 on a populated outbox while the application inserts: applies, no insert fails or waits long', async () => {
    await migrate(fixture.outbox.pool, fixture.outbox.names, silentLog, { migrations: loadMigrations().slice(0, 1) });
    await fixture.outbox.pool.query(
      `INSERT INTO ${fixture.outbox.names.outbox} (topic, key, payload) SELECT 't', 'k' || g, '\\x00' FROM generate_series(1, 100000) g`,
    );
    const w = writer();
    await waitFor('the writer running', async () => w.latencies.length > 20);
    const before = w.latencies.length;
    const result = await migrate(fixture.outbox.pool, fixture.outbox.names, silentLog);
    await waitFor('more inserts after the migration', async () => w.latencies.length > before + 20);
    await w.stop();
    expect(result.applied).toEqual(loadMigrations().slice(1).map((m) => m.version));
    expect(w.errors).toEqual([]);
    expect(Math.max(...w.latencies)).toBeLessThan(1000);
  });

  it('behind a long transaction, migrate gives up each DDL attempt fast (writers do not queue behind it) and applies once it ends', async () => {
    await migrate(fixture.outbox.pool, fixture.outbox.names, silentLog, { migrations: loadMigrations().slice(0, 1) });
    const long = await fixture.outbox.pool.connect();
    await long.query('BEGIN');
    await long.query(`SELECT count(*) FROM ${fixture.outbox.names.outbox}`); // holds ACCESS SHARE until COMMIT
    const w = writer();
    const migrating = migrate(fixture.outbox.pool, fixture.outbox.names, silentLog, { ddlLockTimeoutMs: 200, ddlAttempts: 30 });
    // While migrate keeps trying, inserts still go through: a queued ALTER would block them all.
    await waitFor('inserts during the attempts', async () => w.latencies.length > 30, 10_000);
    await new Promise((r) => setTimeout(r, 1500)); // several attempts (a fixed span on purpose: the point is time passing)
    expect(await ledger()).toEqual([1]);
    await long.query('COMMIT');
    long.release();
    expect((await migrating).applied).toEqual(loadMigrations().slice(1).map((m) => m.version));
    await w.stop();
    expect(w.errors).toEqual([]);
    // Each attempt held the writers back at most its 200 ms lock wait (plus scheduling).
    expect(Math.max(...w.latencies)).toBeLessThan(800);
  });
});
