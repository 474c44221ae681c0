import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration, parseTime } from '../../src/duration.js';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['90s', 90_000],
    ['15m', 900_000],
    ['2h', 7_200_000],
    ['7d', 604_800_000],
    ['1w', 604_800_000],
    ['1h30m', 5_400_000],
    [' 3d ', 259_200_000],
  ])('%s → %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '7', '2 h', '1.5h', '-1h', 'h', '2hours', '0s', '1h 30m', '2H', '99999999999999999d', 'off'])('refuses %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

describe('formatDuration', () => {
  it('shows the two largest units', () => {
    expect(formatDuration(93_784_000)).toBe('1d2h');
    expect(formatDuration(90_000)).toBe('1m30s');
    expect(formatDuration(250)).toBe('250ms');
  });
});

describe('parseTime', () => {
  const now = new Date('2026-11-30T12:00:00Z');
  it('reads a duration as that long before now', () => {
    expect(parseTime('2h', now)).toEqual(new Date('2026-11-30T10:00:00Z'));
    expect(parseTime('1d', now)).toEqual(new Date('2026-11-29T12:00:00Z'));
  });
  it('reads ISO-8601, UTC when no offset is given', () => {
    expect(parseTime('2026-11-30T08:15:00Z', now)).toEqual(new Date('2026-11-30T08:15:00Z'));
    expect(parseTime('2026-11-30T08:15:00+02:00', now)).toEqual(new Date('2026-11-30T06:15:00Z'));
    expect(parseTime('2026-11-30T08:15', now)).toEqual(new Date('2026-11-30T08:15:00Z'));
    expect(parseTime('2026-11-30 08:15:30.5', now)).toEqual(new Date('2026-11-30T08:15:30.500Z'));
    expect(parseTime('2026-11-29', now)).toEqual(new Date('2026-11-29T00:00:00Z'));
  });
  it.each(['yesterday', '2026-13-45', '30/11/2026', '', '2h ago'])('refuses %j', (text) => {
    expect(parseTime(text, now)).toBeUndefined();
  });
});
