#!/usr/bin/env node
/**
 * npm run test:mutants [-- name…]: apply each named breakage of the source (test/mutants/*.patch),
 * rebuild, run the test files it names, and revert. A breakage must make at least one test fail
 * ("killed"); one the tests let pass "survived". A patch that no longer applies or no longer builds is
 * an "error" (fix the patch), never a pass. Exits non-zero if anything survived or errored.
 *
 * A patch file is a few header lines, a blank line, then a plain `git diff`:
 *   mutant: <name>                      (the file name without .patch)
 *   breaks: <what the breakage does>
 *   tests: <test file>[,<test file>…]   (run together, once)
 *   filter: <vitest -t pattern>         (optional: only the tests that matter, to keep the run short)
 *   config: <vitest config file>        (optional: for tests outside `npm test`, e.g. vitest.chaos.config.ts)
 *
 * Refuses to start if a file it patches has uncommitted changes; the patched file is restored in a
 * `finally` and on SIGINT/SIGTERM, and dist/ is rebuilt from the clean source at the end.
 * Logs of each run: .mutants/<name>.log. The summary table is printed as Markdown (docs/testing.md).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;
const DIR = join(ROOT, 'test/mutants');
const LOGS = join(ROOT, '.mutants');
const PER_MUTANT_MS = 15 * 60_000;

function parse(file) {
  const text = readFileSync(join(DIR, file), 'utf8');
  const start = text.indexOf('diff --git ');
  if (start < 0) throw new Error(`${file}: no diff in it`);
  const header = Object.fromEntries(
    text
      .slice(0, start)
      .split('\n')
      .map((line) => line.match(/^(\w+):\s*(.*)$/))
      .filter(Boolean)
      .map((m) => [m[1], m[2].trim()]),
  );
  const name = file.replace(/\.patch$/, '');
  if (header.mutant !== name) throw new Error(`${file}: header "mutant: ${header.mutant}" does not match the file name`);
  if (!header.tests) throw new Error(`${file}: no "tests:" line`);
  const files = [...text.matchAll(/^diff --git a\/(\S+) b\//gm)].map((m) => m[1]);
  return { name, path: join(DIR, file), breaks: header.breaks ?? '', tests: header.tests.split(',').map((t) => t.trim()), filter: header.filter, config: header.config, files };
}

const git = (...args) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const wanted = process.argv.slice(2);
const mutants = readdirSync(DIR)
  .filter((f) => f.endsWith('.patch'))
  .sort()
  .map(parse)
  .filter((m) => wanted.length === 0 || wanted.includes(m.name));
const unknown = wanted.filter((w) => !mutants.some((m) => m.name === w));
if (unknown.length > 0 || mutants.length === 0) {
  console.error(`mutants: no such mutant: ${unknown.join(', ') || '(none found)'}`);
  process.exit(2);
}
const touched = [...new Set(mutants.flatMap((m) => m.files))];
const dirty = git('status', '--porcelain', '--', ...touched).trim();
if (dirty) {
  console.error(`mutants: refusing to start, files the mutants patch have uncommitted changes:\n${dirty}`);
  process.exit(2);
}

// Resolve the services once (as test/support/global-setup.ts would), not once per mutant.
const env = { ...process.env };
if (!env.DATABASE_URL || !env.KAFKA_BROKERS) {
  const out = execFileSync('bash', ['stack/up.sh'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  for (const line of out.trim().split('\n')) {
    const [k, v] = line.split(/=(.*)/s);
    if (k === 'DATABASE_URL' || k === 'KAFKA_BROKERS') env[k] = v;
  }
}

let applied; // the patch currently applied, reverted on every way out
let child;
function revert() {
  if (!applied) return;
  try {
    git('apply', '-R', applied.path);
  } catch (err) {
    // Last resort: the file is committed and was clean when we started.
    console.error(`mutants: could not reverse ${applied.name} (${err.message.trim()}); restoring ${applied.files.join(', ')} from git`);
    git('checkout', '--', ...applied.files);
  }
  applied = undefined;
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (child) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    }
    revert();
    try {
      build();
    } catch {}
    console.error(`mutants: interrupted (${signal}); source restored`);
    process.exit(130);
  });
}

function build() {
  execFileSync('npx', ['tsc', '-p', '.'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function runTests(m) {
  const report = join(LOGS, `${m.name}.json`);
  const args = ['vitest', 'run', ...(m.config ? ['--config', m.config] : []), ...m.tests, ...(m.filter ? ['-t', m.filter] : []), '--reporter=default', '--reporter=json', `--outputFile.json=${report}`];
  return new Promise((resolve) => {
    const log = [];
    child = spawn('npx', args, { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d) => log.push(d));
    child.stderr.on('data', (d) => log.push(d));
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    }, PER_MUTANT_MS);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      child = undefined;
      writeFileSync(join(LOGS, `${m.name}.log`), Buffer.concat(log));
      let failed = [];
      let total = 0;
      try {
        const r = JSON.parse(readFileSync(report, 'utf8'));
        total = r.numTotalTests - (r.numPendingTests ?? 0) - (r.numTodoTests ?? 0);
        failed = r.testResults.flatMap((f) => f.assertionResults.filter((a) => a.status === 'failed').map((a) => a.title));
        if (failed.length === 0 && r.numFailedTestSuites > 0) failed = ['(a test file failed to run)'];
      } catch {}
      resolve({ code, signal, failed, total });
    });
  });
}

mkdirSync(LOGS, { recursive: true });
const results = [];
const t0 = Date.now();
for (const m of mutants) {
  const started = Date.now();
  let result;
  try {
    git('apply', '--check', m.path);
  } catch (err) {
    result = { status: 'error', detail: `patch no longer applies: ${err.stderr?.toString().trim().split('\n')[0] ?? err.message}` };
  }
  if (!result) {
    try {
      git('apply', m.path);
      applied = m;
      try {
        build();
      } catch (err) {
        result = { status: 'error', detail: `does not build: ${(err.stdout ?? '').toString().trim().split('\n')[0]}` };
      }
      if (!result) {
        const r = await runTests(m);
        if (r.failed.length > 0) result = { status: 'killed', detail: r.failed.join('; ') };
        else if (r.code === 0 && r.total > 0) result = { status: 'SURVIVED', detail: `${r.total} tests passed` };
        else result = { status: 'error', detail: `tests did not run (exit ${r.code ?? r.signal}, ${r.total} tests); see .mutants/${m.name}.log` };
      }
    } finally {
      revert();
    }
  }
  const seconds = Math.round((Date.now() - started) / 1000);
  results.push({ ...m, ...result, seconds });
  console.log(`mutants: ${m.name}: ${result.status} in ${seconds} s${result.detail ? ` (${result.detail})` : ''}`);
}
build(); // dist/ from the clean source again

const cell = (s) => String(s).replaceAll('|', '\\|');
const lines = [
  `| mutant | breaks | tests run | result | caught by | s |`,
  `|---|---|---|---|---|---|`,
  ...results.map(
    (r) =>
      `| ${r.name} | ${cell(r.breaks)} | ${r.tests.join(', ')}${r.filter ? ` (-t "${cell(r.filter)}")` : ''} | ${r.status} | ${r.status === 'killed' ? cell(r.detail) : cell(r.detail ?? '')} | ${r.seconds} |`,
  ),
];
const count = (s) => results.filter((r) => r.status === s).length;
const summary = `${results.length} mutants: ${count('killed')} killed, ${count('SURVIVED')} survived, ${count('error')} errors; ${Math.round((Date.now() - t0) / 1000)} s on Node ${process.version}, ${new Date().toISOString()}`;
console.log(`\n${lines.join('\n')}\n\n${summary}`);
writeFileSync(join(LOGS, 'latest.md'), `${lines.join('\n')}\n\n${summary}\n`);
process.exit(count('SURVIVED') + count('error') > 0 ? 1 : 0);
