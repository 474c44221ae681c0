/**
 * Every operator-facing list is generated from its one definition (src/config-docs.ts); these fail when
 * a generated file drifts from it. Fix: `npm run docs:config`.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ENV_EXAMPLE_PATH,
  EXIT_CODES_END,
  EXIT_CODES_START,
  TABLE_END,
  TABLE_START,
  renderEnvExample,
  renderExitCodesTable,
  renderSettingsTable,
  updateReadme,
} from '../../src/config-docs.js';
import { SETTINGS, SETTING_KEYS, loadConfig, readEnvFiles } from '../../src/config.js';
import { EXIT_CODES, ExitCode, renderExitCodesHelp } from '../../src/errors.js';
import { METRICS, METRICS_TABLE_END, METRICS_TABLE_START, renderMetricsTable } from '../../src/metrics/definitions.js';

const root = new URL('../../', import.meta.url);
const readme = readFileSync(new URL('README.md', root), 'utf8');
const envExamplePath = new URL(ENV_EXAMPLE_PATH, root).pathname;
const envExample = readFileSync(envExamplePath, 'utf8');

function block(text: string, start: string, end: string): string {
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  expect(from, `${start} missing`).toBeGreaterThanOrEqual(0);
  expect(to, `${end} missing`).toBeGreaterThan(from);
  return text.slice(from, to + end.length);
}

describe('generated operator docs (run npm run docs:config after changing a definition)', () => {
  it('README settings table matches SETTINGS', () => {
    expect(block(readme, TABLE_START, TABLE_END)).toBe(renderSettingsTable());
  });

  it('README exit-code table matches EXIT_CODES', () => {
    expect(block(readme, EXIT_CODES_START, EXIT_CODES_END)).toBe(renderExitCodesTable());
  });

  it('README metrics table matches METRICS, in the Operations section', () => {
    const metrics = block(readme, METRICS_TABLE_START, METRICS_TABLE_END);
    expect(metrics).toBe(renderMetricsTable());
    const operations = readme.indexOf('### Operations');
    const next = readme.indexOf('\n## ', operations);
    expect(readme.indexOf(METRICS_TABLE_START)).toBeGreaterThan(operations);
    expect(readme.indexOf(METRICS_TABLE_END)).toBeLessThan(next);
    for (const m of Object.values(METRICS)) expect(metrics).toContain(`\`${m.name}\``);
  });

  it('updateReadme leaves an up-to-date README unchanged and refuses one without markers', () => {
    expect(updateReadme(readme)).toBe(readme);
    expect(() => updateReadme(readme.replace(EXIT_CODES_START, ''))).toThrow(/exit-codes:start/);
  });

  it(`${ENV_EXAMPLE_PATH} matches SETTINGS`, () => {
    expect(envExample).toBe(renderEnvExample());
  });

  it(`${ENV_EXAMPLE_PATH} works as an env file: required settings set, every other one at its default once uncommented`, () => {
    const set = readEnvFiles([envExamplePath]);
    const isOptional = (k: (typeof SETTING_KEYS)[number]) => 'optional' in SETTINGS[k] && (SETTINGS[k] as { optional?: boolean }).optional === true;
    const required = SETTING_KEYS.filter((k) => SETTINGS[k].default === undefined && !isOptional(k)).map((k) => SETTINGS[k].env);
    expect(Object.keys(set).sort()).toEqual([...required].sort());
    // As shipped, it is a valid configuration for `run`.
    expect(() => loadConfig('run', { envFiles: [envExamplePath] })).not.toThrow();

    // Uncommented, every setting appears once and resolves to its default.
    const uncommented = envExample.replace(/^# ([A-Z][A-Z0-9_]*=)/gm, '$1');
    const values = Object.fromEntries(
      uncommented
        .split('\n')
        .filter((l) => /^[A-Z][A-Z0-9_]*=/.test(l))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    expect(Object.keys(values).sort()).toEqual(SETTING_KEYS.map((k) => SETTINGS[k].env).sort());
    const config = loadConfig('run', { env: values });
    for (const key of SETTING_KEYS) {
      if (SETTINGS[key].default !== undefined) expect(config[key], key).toEqual(SETTINGS[key].default);
    }
  });

  it('exit codes: ExitCode is derived from EXIT_CODES, codes are unique, --help lists each one', () => {
    expect(ExitCode.OK).toBe(0);
    expect(ExitCode.USAGE).toBe(2);
    expect(ExitCode.FORCED).toBe(130);
    expect(Object.keys(ExitCode)).toEqual(EXIT_CODES.map((e) => e.name));
    expect(new Set(EXIT_CODES.map((e) => e.code)).size).toBe(EXIT_CODES.length);
    const help = renderExitCodesHelp();
    const flowing = help.replace(/\n {7}/g, ' ');
    for (const e of EXIT_CODES) expect(flowing).toContain(`  ${String(e.code).padEnd(5)}${e.meaning}`);
    for (const line of help.split('\n')) expect(line.length).toBeLessThanOrEqual(100);
  });
});
