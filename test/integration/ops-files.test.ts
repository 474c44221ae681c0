/**
 * config/prometheus/ through Prometheus's own promtool: the scrape config and the rules load, the
 * rules' unit tests (alerts.test.yml) pass, and they really pin each alert down: with an alert's
 * expression replaced by one that never fires, or one that always fires, the unit tests fail.
 * The container files: the compose services' entry point and commands run (`--help`) as the image
 * runs them, and the image's HEALTHCHECK command, run against a stub server, passes only on a 200 from
 * /healthz.
 *
 * promtool is not a service but an external tool: stack/tools.sh installs it (stack/up.sh runs that).
 * Missing, these tests fail; they do not skip.
 */
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

const root = fileURLToPath(new URL('../../', import.meta.url));
const promDir = join(root, 'config/prometheus');

interface Result {
  code: number;
  output: string;
}

function run(command: string, args: string[], cwd = root, env: NodeJS.ProcessEnv = process.env): Promise<Result> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, env, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = (err as NodeJS.ErrnoException | null)?.code;
      if (code === 'ENOENT') {
        reject(new Error(`${command} is not installed: run stack/tools.sh (stack/up.sh runs it) to install it`));
        return;
      }
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, output: stdout + stderr });
    });
  });
}

const promtool = (...args: string[]) => run('promtool', args);

const alerts = (parseYaml(readFileSync(join(promDir, 'alerts.yml'), 'utf8')) as { groups: { rules: { alert?: string }[] }[] }).groups
  .flatMap((g) => g.rules)
  .flatMap((r) => (r.alert ? [r.alert] : []));

describe('config/prometheus with promtool', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'outbox-relay-rules-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('prometheus.yml is a valid configuration and loads the rules', async () => {
    const r = await promtool('check', 'config', join(promDir, 'prometheus.yml'));
    expect(r.output).toContain('SUCCESS: 1 rule files found');
    expect(r.code, r.output).toBe(0);
  });

  it('alerts.yml is valid and holds every alert', async () => {
    const r = await promtool('check', 'rules', join(promDir, 'alerts.yml'));
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain(`SUCCESS: ${alerts.length} rules found`);
    expect(alerts.length).toBeGreaterThanOrEqual(6);
  });

  it('the unit tests of alerts.test.yml pass', async () => {
    const r = await promtool('test', 'rules', join(promDir, 'alerts.test.yml'));
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain('SUCCESS');
  });

  it('the unit tests catch each alert firing never and firing always', async () => {
    const original = readFileSync(join(promDir, 'alerts.yml'), 'utf8');
    for (const alert of alerts) {
      for (const [what, expr] of [
        ['never fires', 'vector(1) == 0'],
        ['always fires', 'vector(1)'],
      ] as const) {
        const dir = join(scratch, `${alert}-${what.replace(' ', '-')}`);
        cpSync(promDir, dir, { recursive: true });
        const doc = parseYaml(original) as { groups: { rules: { alert?: string; expr: string }[] }[] };
        const rule = doc.groups.flatMap((g) => g.rules).find((x) => x.alert === alert)!;
        rule.expr = expr;
        writeFileSync(join(dir, 'alerts.yml'), JSON.stringify(doc));
        const r = await promtool('test', 'rules', join(dir, 'alerts.test.yml'));
        expect(r.code, `${alert} ${what}: promtool test rules should fail\n${r.output}`).not.toBe(0);
        expect(r.output, `${alert} ${what}`).toContain(`alertname: ${alert}`);
      }
    }
  });
});

describe('docker-compose.yml commands as the image runs them', () => {
  it('the relay and migrate services’ entry point and command are real bin/outbox-relay commands', async () => {
    const compose = parseYaml(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as { services: Record<string, { command: string[] }> };
    const entrypoint = /^ENTRYPOINT\s+(\[.*\])$/m.exec(readFileSync(join(root, 'Dockerfile'), 'utf8'))![1]!;
    const [bin] = JSON.parse(entrypoint) as [string];
    // The image's /app is this repository's root.
    const local = join(root, bin.replace(/^\/app\//, ''));
    for (const name of ['relay', 'migrate']) {
      const r = await run(local, [...compose.services[name]!.command, '--help']);
      expect(r.code, `${name}: ${r.output}`).toBe(0);
      expect(r.output).toContain(`Usage: outbox-relay ${compose.services[name]!.command[0]}`);
    }
  });
});

describe('the Dockerfile HEALTHCHECK command', () => {
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const [command, ...args] = JSON.parse(/^HEALTHCHECK\s.*?\bCMD\s+(\[.*\])$/m.exec(dockerfile)![1]!) as string[];

  async function check(status: number | 'down'): Promise<{ code: number; paths: string[] }> {
    const paths: string[] = [];
    const server = createServer((req, res) => {
      paths.push(req.url ?? '');
      res.writeHead(req.url === '/healthz' ? (status as number) : 404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    if (status === 'down') await new Promise((resolve) => server.close(resolve));
    try {
      const r = await run(command!, args, root, { ...process.env, OUTBOX_HTTP_ADDR: `:${port}` });
      return { code: r.code, paths };
    } finally {
      server.close();
    }
  }

  it('exits 0 on a 200 from /healthz on the OUTBOX_HTTP_ADDR port, 1 on 503 or when nothing listens', async () => {
    expect(command).toBe('node');
    expect(await check(200)).toEqual({ code: 0, paths: ['/healthz'] });
    expect(await check(503)).toEqual({ code: 1, paths: ['/healthz'] });
    expect((await check('down')).code).toBe(1);
  });
});
