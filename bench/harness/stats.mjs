// Medians with spread, and latency through an HDR histogram (microsecond resolution).
import hdr from 'hdr-histogram-js';

export function spread(xs) {
  const s = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return null;
  const mid = s.length / 2;
  const median = s.length % 2 ? s[Math.floor(mid)] : (s[mid - 1] + s[mid]) / 2;
  return { median: round(median), min: round(s[0]), max: round(s.at(-1)), n: s.length };
}

export function round(x, digits = 3) {
  if (typeof x !== 'number' || !Number.isFinite(x)) return x;
  const f = 10 ** (Math.abs(x) >= 100 ? 0 : digits);
  return Math.round(x * f) / f;
}

const EDGES_MS = [0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 200, 500, 1000, 2000, 5000, Infinity];

export class Latency {
  constructor() {
    this.h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
    this.counts = EDGES_MS.map(() => 0);
  }

  /** One latency in milliseconds (negative clock noise is clamped to 1 µs). */
  record(ms) {
    this.h.recordValue(Math.max(1, Math.round(ms * 1000)));
    this.counts[EDGES_MS.findIndex((e) => ms <= e)]++;
  }

  get count() {
    return this.h.totalCount;
  }

  /** p50/p90/p99/p99.9/max/mean in ms. */
  summary() {
    if (this.h.totalCount === 0) return { count: 0 };
    const at = (p) => round(this.h.getValueAtPercentile(p) / 1000, 3);
    return { count: this.h.totalCount, p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: round(this.h.maxValue / 1000, 3), mean: round(this.h.mean / 1000, 3) };
  }

  /** Percentile curve for the chart: [{ p, ms }]. */
  curve() {
    const ps = [1, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 100];
    return this.h.totalCount === 0 ? [] : ps.map((p) => ({ p, ms: round(this.h.getValueAtPercentile(p) / 1000, 3) }));
  }

  /** Counts per latency bucket for the histogram chart: [{ le_ms, n }] (le_ms null = above 5 s). */
  buckets() {
    return EDGES_MS.map((e, i) => ({ le_ms: e === Infinity ? null : e, n: this.counts[i] }));
  }
}
