/**
 * Durations and points in time as operators type them: `--older-than 7d`, `--since 2h`,
 * `OUTBOX_RETENTION=3d`, `--since 2026-11-30T12:00:00Z`. One parser for every command and setting.
 *
 * A tiny pure function rather than the `ms` package: `ms` reads a bare number as milliseconds
 * ("7" = 7 ms, a footgun for `--older-than 7`), accepts long forms and decimals we do not want to
 * document, and returns undefined instead of saying what is wrong. Here a duration is one or more
 * `<integer><unit>` parts (`90s`, `1h30m`, `2d`), units ms, s, m, h, d, w; nothing else.
 */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const PART = /(\d+)(ms|s|m|h|d|w)/y;

export const DURATION_EXPECT = 'a duration such as 90s, 15m, 2h, 7d or 1h30m (units ms, s, m, h, d, w)';

/** Milliseconds of a duration, or undefined if the text is not one. Zero is not a duration. */
export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  if (s === '') return undefined;
  PART.lastIndex = 0;
  let total = 0;
  let match: RegExpExecArray | null;
  while (PART.lastIndex < s.length && (match = PART.exec(s)) !== null) total += Number(match[1]) * UNIT_MS[match[2]!]!;
  if (PART.lastIndex !== s.length || total <= 0 || !Number.isSafeInteger(total)) return undefined;
  return total;
}

/** A duration for humans: the largest units, at most two (e.g. 93784000 → "1d2h"). */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const parts: string[] = [];
  let rest = Math.round(ms / 1000) * 1000;
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const n = Math.floor(rest / UNIT_MS[unit]!);
    if (n > 0 && parts.length < 2) parts.push(`${n}${unit}`);
    rest -= n * UNIT_MS[unit]!;
  }
  return parts.join('');
}

const ISO = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * A point in time: an ISO-8601 timestamp (a date alone is midnight UTC; a time without an offset
 * is UTC too, so the answer never depends on the machine's zone), or a duration meaning that long
 * before `now` ("2h" = two hours ago). Undefined if it is neither.
 */
export function parseTime(text: string, now: Date): Date | undefined {
  const s = text.trim();
  if (ISO.test(s)) {
    const withZone = /([T ]\d{2}:\d{2}.*)$/.test(s) && !/(Z|[+-]\d{2}:?\d{2})$/.test(s) ? `${s.replace(' ', 'T')}Z` : s.replace(' ', 'T');
    const t = Date.parse(withZone);
    return Number.isNaN(t) ? undefined : new Date(t);
  }
  const ms = parseDuration(s);
  return ms === undefined ? undefined : new Date(now.getTime() - ms);
}

export const TIME_EXPECT = 'an ISO-8601 timestamp (2026-11-30T12:00:00Z; no offset means UTC) or a duration ago (2h, 30m, 7d)';
