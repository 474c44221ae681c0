import { describe, expect, it } from 'vitest';
// @ts-expect-error the bench is plain JavaScript without type declarations
import { parseArgs, UsageError } from '../../bench/harness/options.mjs';
// @ts-expect-error the bench is plain JavaScript without type declarations
import { summarize, targets } from '../../bench/harness/report.mjs';

type Run = Record<string, unknown>;
type Target = { target: string; value: number | null; pass: boolean | null };

const drain = (round: number, system: string, rowsPerS: number, extra: Record<string, unknown> = {}): Run => ({
  round, scenario: 'drain', system, ok: true, ...(system === 'relay' ? { variant: 'default' } : {}),
  result: { rows_per_s: rowsPerS, cpu_us_per_row: 8, peak_rss_mb: 90, ...extra },
});
const tax = (round: number, clients: number, variant: string, tps: number): Run => ({ round, scenario: 'producer-tax', system: 'relay', variant, clients, ok: true, result: { tps } });
const replica = (round: number, name: string, rowsPerS: number): Run => ({ round, scenario: 'replicas', system: 'relay', variant: name, ok: true, result: { rows_per_s: rowsPerS } });
const settings = { tax: { clients: [8, 32] } };
const byName = (ts: Target[], prefix: string) => ts.find((t) => t.target.startsWith(prefix))!;

describe('bench report: medians over rounds and the targets', () => {
  it('takes the median of each system over rounds and judges the relay against the ceilings', () => {
    const runs = [
      drain(0, 'relay', 30_000), drain(1, 'relay', 36_000), drain(2, 'relay', 32_000),
      drain(0, 'kafka-ceiling', 40_000), drain(1, 'kafka-ceiling', 45_000), drain(2, 'kafka-ceiling', 50_000),
      drain(0, 'debezium', 12_000), drain(1, 'debezium', 10_000),
      // a failed run and another relay variant do not count
      { round: 2, scenario: 'drain', system: 'debezium', ok: false, error: 'exit 1' },
      { ...drain(2, 'relay', 90_000), variant: 'batch 2000' },
    ];
    const s = summarize(runs);
    expect(s.drain_rows_per_s).toMatchObject({ relay: 32_000, kafka_ceiling: 45_000, debezium: 11_000, db_ceiling: null });
    expect(s.drain.relay).toMatchObject({ min: 30_000, max: 36_000, n: 3 });
    const t: Target[] = targets(s, settings);
    expect(byName(t, 'drain >= 0.7 x Kafka')).toMatchObject({ value: 0.711, pass: true });
    expect(byName(t, 'drain >= 3 x Debezium')).toMatchObject({ value: 2.909, pass: false });
    expect(byName(t, 'relay CPU')).toMatchObject({ value: 8, pass: true });
    // nothing measured: neither pass nor fail
    expect(byName(t, 'commit -> ack p99')).toMatchObject({ value: null, pass: null });
    expect(byName(t, 'ordering cost')).toMatchObject({ value: null, pass: null });
  });

  it('pairs the producer-tax runs of one round and judges each client count', () => {
    const runs = [
      tax(0, 8, 'notify', 960), tax(0, 8, 'no-notify', 1000), tax(1, 8, 'notify', 900), tax(1, 8, 'no-notify', 1000), tax(2, 8, 'notify', 990), tax(2, 8, 'no-notify', 1000),
      tax(0, 32, 'notify', 800), tax(0, 32, 'no-notify', 1000),
    ];
    const s = summarize(runs);
    expect(s.producer_tax[8].ratio).toMatchObject({ median: 0.96, min: 0.9, max: 0.99, n: 3 });
    const t: Target[] = targets(s, settings);
    expect(byName(t, 'producer-side tax').pass).toBe(true);
    expect(t.find((x) => x.target.includes('(32 clients)'))).toMatchObject({ value: 0.8, pass: false });
  });

  it('computes the ordering cost from one replica keyed against keyless', () => {
    const s = summarize([replica(0, '1 replica, keyed', 27_000), replica(0, '1 replica, keyless', 30_000), replica(0, '2 replicas, keyed', 1)]);
    expect(s.ordering_cost).toBe(0.1);
    expect(byName(targets(s, settings), 'ordering cost').pass).toBe(true);
  });
});

describe('bench options', () => {
  it('leaves Debezium out of --quick unless --only names it', () => {
    expect(parseArgs(['--quick']).settings.systems).not.toContain('debezium');
    expect(parseArgs(['--quick', '--only', 'debezium,relay']).settings.systems).toEqual(['relay', 'debezium']);
    expect(parseArgs([]).settings.systems).toContain('debezium');
  });

  it('selects systems and scenarios separately and refuses unknown names', () => {
    const { settings: s } = parseArgs(['--only', 'relay', '--skip', 'replicas', '--rows=5000']);
    expect(s.systems).toEqual(['relay']);
    expect(s.scenarios).not.toContain('replicas');
    expect(s.rows).toBe(5000);
    expect(() => parseArgs(['--only', 'kafka'])).toThrow(UsageError);
    expect(() => parseArgs(['--rounds', '0'])).toThrow(/--rounds needs an integer >= 1/);
  });
});
