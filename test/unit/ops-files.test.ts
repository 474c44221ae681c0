/**
 * The operations files in config/, the Dockerfile, docker-compose.yml and docs/kubernetes.md, checked
 * without Docker or Prometheus (test/integration/ops-files.test.ts runs promtool on the rules):
 * every metric the dashboard and the alerting rules query exists (src/metrics/definitions.ts, Prometheus's
 * `up`, prom-client's defaults), every alert is complete and has unit tests both ways, and the
 * container files agree with each other and with the relay (entry point, ports, probes, grace period).
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { buildProgram } from '../../src/cli.js';
import { SETTINGS } from '../../src/config.js';
import { METRICS, seriesNames } from '../../src/metrics/definitions.js';

const root = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');
const exists = (path: string) => existsSync(new URL(path, root));

// The HTTP listener's address; its setting arrives with src/http/ (until then its documented default).
const HTTP_ADDR = String(Object.values(SETTINGS).find((s) => s.env === 'OUTBOX_HTTP_ADDR')?.default ?? ':9464');
const HTTP_PORT = Number(HTTP_ADDR.slice(HTTP_ADDR.lastIndexOf(':') + 1));
const SHUTDOWN_MS = SETTINGS.shutdownTimeoutMs.default!;
/** What the relay may take after the shutdown deadline to close its connections (README "Operations"). */
const CLOSING_MS = 3000;

// ------------------------------------------------------------------------------ PromQL metric names

const PROMQL_WORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'inf', 'nan']);

/**
 * Metric names in a PromQL expression (Grafana variables allowed): identifiers that are not functions,
 * keywords, label names or durations.
 */
function metricNames(expr: string): string[] {
  const labelValues = /label_values\(\s*([a-zA-Z_:][\w:]*)/.exec(expr);
  if (labelValues) return [labelValues[1]!];
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // strings
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges, subqueries
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // label lists
    .replace(/\$\{?\w+\}?/g, ' '); // Grafana variables
  const names = [...stripped.matchAll(/(?<![\w.:])([a-zA-Z_:][\w:]*)(?!\s*\(|[\w:])/g)].map((m) => m[1]!);
  return names.filter((n) => !PROMQL_WORDS.has(n.toLowerCase()));
}

async function knownSeries(): Promise<Set<string>> {
  const names = new Set<string>(['up']);
  for (const spec of Object.values(METRICS)) for (const n of seriesNames(spec)) names.add(n);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const m of await registry.getMetricsAsJSON()) {
    const type = String(m.type);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
    else if (type === 'summary') for (const s of ['', '_sum', '_count']) names.add(m.name + s);
    else names.add(m.name);
  }
  return names;
}

// ------------------------------------------------------------------------------ the files

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const rules = (parseYaml(read('config/prometheus/alerts.yml')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
const alerts = rules.filter((r): r is Rule & { alert: string } => r.alert !== undefined);

interface Panel {
  type: string;
  title: string;
  id: number;
  gridPos?: { x: number; y: number; w: number; h: number };
  datasource?: { uid?: string };
  targets?: { expr: string }[];
  panels?: Panel[];
}
const dashboard = JSON.parse(read('config/grafana/outbox-relay-dashboard.json')) as {
  panels: Panel[];
  templating: { list: { name: string; query: unknown }[] };
};
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const dashboardExprs = [
  ...panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: p.title, expr: t.expr }))),
  ...dashboard.templating.list
    .filter((v) => typeof v.query === 'object' && v.query !== null)
    .map((v) => ({ where: `variable ${v.name}`, expr: (v.query as { query: string }).query })),
];

/** GitHub's heading anchors of a markdown file. */
function anchors(markdown: string): Set<string> {
  return new Set(
    [...markdown.matchAll(/^#{1,6} (.+)$/gm)].map((m) =>
      m[1]!
        .trim()
        .toLowerCase()
        .replace(/[^\w\- ]/g, '')
        .replace(/ /g, '-'),
    ),
  );
}

/** Dockerfile instructions (continuation lines joined), per stage. */
function dockerfileStages(text: string): { name?: string; instructions: { op: string; args: string }[] }[] {
  const stages: { name?: string; instructions: { op: string; args: string }[] }[] = [];
  const joined = text.replace(/\\\n/g, ' ');
  for (const line of joined.split('\n')) {
    const m = /^\s*([A-Z]+)\s+(.*)$/.exec(line);
    if (!m || line.trim().startsWith('#')) continue;
    const [, op, args] = m as unknown as [string, string, string];
    if (op === 'FROM') stages.push({ name: /\bAS\s+(\S+)/i.exec(args)?.[1], instructions: [] });
    stages.at(-1)!.instructions.push({ op, args: args.trim() });
  }
  return stages;
}
const dockerfile = dockerfileStages(read('Dockerfile'));
const runtime = dockerfile.at(-1)!;
/** The source paths of a COPY (options such as --from= and the destination left out). */
const copySources = (args: string) => args.split(/\s+/).filter((a) => !a.startsWith('--')).slice(0, -1);
const instruction = (op: string) => runtime.instructions.filter((i) => i.op === op).at(-1)?.args;

interface ComposeService {
  build?: unknown;
  image?: string;
  entrypoint?: string[];
  command?: string[];
  ports?: string[];
  volumes?: string[];
  stop_grace_period?: string;
}
const compose = parseYaml(read('docker-compose.yml')) as { services: Record<string, ComposeService> };

/** The CLI as bin/outbox-relay builds it (handlers unused), and its top-level command names. */
const none = async () => 0;
const { program } = buildProgram({ run: none, migrate: none, dead: none, status: none, doctor: none, replay: none, prune: none });
const commands = program.commands.map((c) => c.name());

const seconds = (duration: string) => {
  const m = /^(\d+)(ms|s|m)$/.exec(duration);
  if (!m) throw new Error(`unparsed duration ${duration}`);
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60 }[m[2] as 'ms' | 's' | 'm'];
};

// ------------------------------------------------------------------------------ tests

describe('metric names in the dashboard and the alerting rules', () => {
  it('the extractor finds metric names and nothing else', () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (le) (rate(a_seconds_bucket{job="$job", le!="1e3"}[$__rate_interval]))) / on (instance) group_left b_total offset 5m and up == bool 1e3',
      ),
    ).toEqual(['a_seconds_bucket', 'b_total', 'up']);
    expect(metricNames('label_values(outbox_relay_info{job="$job"}, instance)')).toEqual(['outbox_relay_info']);
  });

  it('every expression of the dashboard uses only metrics the relay exposes', async () => {
    const known = await knownSeries();
    expect(dashboardExprs.length).toBeGreaterThan(20);
    for (const { where, expr } of dashboardExprs) {
      const names = metricNames(expr);
      expect(names.length, `${where}: ${expr}`).toBeGreaterThan(0);
      for (const name of names) expect(known, `${where}: ${name} in ${expr}`).toContain(name);
    }
  });

  it('every alerting rule uses only metrics the relay exposes (and Prometheus’s up)', async () => {
    const known = await knownSeries();
    for (const rule of rules) {
      const names = metricNames(rule.expr);
      expect(names.length, rule.alert).toBeGreaterThan(0);
      for (const name of names) expect(known, `${rule.alert}: ${name}`).toContain(name);
    }
  });

  it('the dashboard shows every metric of METRICS (a new metric needs a panel)', () => {
    const used = new Set(dashboardExprs.flatMap(({ expr }) => metricNames(expr)));
    const missing = Object.values(METRICS).filter((m) => !seriesNames(m).some((s) => used.has(s))).map((m) => m.name);
    expect(missing).toEqual([]);
  });
});

describe('Grafana dashboard', () => {
  it('has unique panel ids, panels that do not overlap, and every query panel uses the data-source variable', () => {
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const boxes = panels.map((p) => ({ title: p.title, ...p.gridPos! }));
    for (const [i, a] of boxes.entries()) {
      expect(a.x + a.w, a.title).toBeLessThanOrEqual(24);
      for (const b of boxes.slice(i + 1)) {
        const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
        expect(overlap, `${a.title} overlaps ${b.title}`).toBe(false);
      }
    }
    for (const p of panels.filter((x) => x.type !== 'row')) {
      expect(p.datasource?.uid, p.title).toBe('${datasource}');
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
    }
  });

  it('is what the compose Grafana provisions', () => {
    const grafana = compose.services.grafana!;
    expect(grafana.volumes).toContain('./config/grafana/outbox-relay-dashboard.json:/var/lib/grafana/dashboards/outbox-relay-dashboard.json:ro');
    const provider = parseYaml(read('config/grafana/provisioning/dashboards/outbox-relay.yml')) as { providers: { options: { path: string } }[] };
    expect(provider.providers[0]!.options.path).toBe('/var/lib/grafana/dashboards');
  });
});

describe('alerting rules', () => {
  const operations = read('docs/operations.md');

  it('cover backlog age, dead rows, blocked keys, relay down, stuck on polling and no replica ready', () => {
    expect(alerts.map((a) => a.alert).sort()).toEqual(
      ['OutboxRelayBacklogOld', 'OutboxRelayBlockedKeys', 'OutboxRelayDeadRows', 'OutboxRelayDown', 'OutboxRelayNoReplicaReady', 'OutboxRelayStuckOnPolling'].sort(),
    );
  });

  it('each has a for: duration, a severity, a summary and a runbook section in docs/operations.md', () => {
    const sections = anchors(operations);
    for (const a of alerts) {
      expect(seconds(a.for ?? '0s'), a.alert).toBeGreaterThanOrEqual(60);
      expect(['warning', 'critical'], a.alert).toContain(a.labels?.severity);
      expect(a.annotations?.summary, a.alert).toBeTruthy();
      const runbook = /^docs\/operations\.md#([\w-]+)$/.exec(a.annotations?.runbook ?? '');
      expect(runbook, `${a.alert} runbook ${a.annotations?.runbook}`).not.toBeNull();
      expect(sections, `${a.alert} runbook`).toContain(runbook![1]);
      expect(operations, `docs/operations.md names ${a.alert}`).toContain(`\`${a.alert}\``);
    }
    for (const section of ['backlog-growing', 'dead-rows', 'blocked-key', 'relay-not-ready']) expect(sections).toContain(section);
    expect(read('README.md')).toContain('(docs/operations.md)');
  });

  it("README's alerts table lists every alert with its runbook section", () => {
    const readme = read('README.md');
    for (const a of alerts) {
      const row = readme.split('\n').find((l) => l.startsWith(`  | \`${a.alert}\` |`));
      expect(row, `README row for ${a.alert}`).toBeDefined();
      expect(row).toContain(`(${a.annotations!.runbook})`);
    }
  });

  it('alerts.test.yml has, for every alert, a case where it fires and one where it must not', () => {
    const tests = (parseYaml(read('config/prometheus/alerts.test.yml')) as {
      rule_files: string[];
      tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
    });
    expect(tests.rule_files).toEqual(['alerts.yml']);
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const a of alerts) {
      const mine = cases.filter((c) => c.alertname === a.alert);
      expect(mine.some((c) => (c.exp_alerts ?? []).length > 0), `${a.alert} fires somewhere`).toBe(true);
      expect(mine.some((c) => (c.exp_alerts ?? []).length === 0), `${a.alert} stays silent somewhere`).toBe(true);
    }
  });

  it('prometheus.yml scrapes job outbox-relay on the relay port and loads the rules', () => {
    const config = parseYaml(read('config/prometheus/prometheus.yml')) as {
      rule_files: string[];
      scrape_configs: { job_name: string; metrics_path?: string; static_configs: { targets: string[] }[] }[];
    };
    for (const file of config.rule_files) expect(exists(`config/prometheus/${file}`), file).toBe(true);
    expect(config.rule_files).toContain('alerts.yml');
    const job = config.scrape_configs.find((s) => s.job_name === 'outbox-relay');
    expect(job?.metrics_path ?? '/metrics').toBe('/metrics');
    expect(job?.static_configs.flatMap((s) => s.targets)).toEqual([`relay:${HTTP_PORT}`]);
    for (const a of alerts) expect(a.expr, a.alert).toContain('job="outbox-relay"');
  });
});

describe('Dockerfile', () => {
  it('is multi-stage: builds with npm ci (prepare builds dist/), installs production dependencies without scripts', () => {
    expect(dockerfile.length).toBeGreaterThanOrEqual(2);
    const runs = dockerfile.flatMap((s) => s.instructions.filter((i) => i.op === 'RUN').map((i) => i.args));
    expect(runs.some((r) => /npm ci\b(?!.*--omit=dev)/.test(r))).toBe(true);
    expect(runs.some((r) => /npm ci .*--omit=dev/.test(r) && r.includes('--ignore-scripts'))).toBe(true);
    for (const s of dockerfile) expect(s.instructions[0]!.args).toMatch(/^node:24-(slim|alpine)\b/);
  });

  it('runtime stage: the files bin/outbox-relay needs, a non-root USER, SIGTERM, the relay entry point', () => {
    // What lands in the image: the base name of every COPY source (from the context or another stage).
    const copied = runtime.instructions
      .filter((i) => i.op === 'COPY')
      .flatMap((i) => copySources(i.args).map((source) => source.replace(/\/$/, '').split('/').at(-1)!));
    for (const path of ['node_modules', 'dist', 'package.json', 'bin', 'sql']) expect(copied).toContain(path);
    const user = instruction('USER');
    expect(user).toBeDefined();
    expect(['root', '0', '0:0']).not.toContain(user);
    expect(instruction('STOPSIGNAL')).toBe('SIGTERM');
    expect(JSON.parse(instruction('ENTRYPOINT')!)).toEqual(['/app/bin/outbox-relay']);
    expect(JSON.parse(instruction('CMD')!)).toEqual(['run']);
    expect(statSync(new URL('bin/outbox-relay', root)).mode & 0o111).not.toBe(0);
  });

  it('HEALTHCHECK asks /healthz on the default HTTP port, which is EXPOSEd', () => {
    const health = instruction('HEALTHCHECK')!;
    expect(health).toContain('/healthz');
    expect(health).toContain(`'${HTTP_ADDR}'`);
    expect(health).not.toMatch(/\bcurl\b|\bwget\b/);
    expect(instruction('EXPOSE')).toBe(String(HTTP_PORT));
  });

  it('.dockerignore keeps out what the image must not hold, and nothing the Dockerfile copies', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const path of ['node_modules', '.git', '.stack', 'dist']) expect(ignored).toContain(path);
    const sources = dockerfile.flatMap((s) =>
      s.instructions.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from')).flatMap((i) => copySources(i.args)),
    );
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) {
      const path = source.replace(/^\.\//, '').replace(/\/$/, '');
      expect(exists(path), path).toBe(true);
      expect(ignored, path).not.toContain(path);
    }
  });
});

describe('docker-compose.yml', () => {

  it('builds the relay and its migration from the Dockerfile, with the bin/outbox-relay entry point and real commands', () => {
    for (const name of ['relay', 'migrate']) {
      const service = compose.services[name]!;
      expect(service.build, name).toBe('.');
      const entrypoint = service.entrypoint ?? JSON.parse(instruction('ENTRYPOINT')!);
      expect(entrypoint, name).toEqual(['/app/bin/outbox-relay']);
      expect(commands, name).toContain(service.command![0]);
    }
    expect(compose.services.relay!.command).toEqual(['run']);
    expect(compose.services.migrate!.command).toEqual(['migrate']);
  });

  it('publishes the relay’s HTTP port and stops it with a grace period above the shutdown timeout', () => {
    const relay = compose.services.relay!;
    expect(relay.ports).toContain(`${HTTP_PORT}:${HTTP_PORT}`);
    expect(seconds(relay.stop_grace_period!) * 1000).toBeGreaterThan(SHUTDOWN_MS + CLOSING_MS);
  });

  it('runs Prometheus with config/prometheus mounted as its configuration, rules included', () => {
    const prometheus = compose.services.prometheus!;
    expect(prometheus.image).toMatch(/^prom\/prometheus:v\d/);
    const mount = prometheus.volumes!.map((v) => v.split(':')).find(([, target]) => target === '/etc/prometheus');
    expect(mount?.[0]).toBe('./config/prometheus');
    for (const file of ['prometheus.yml', 'alerts.yml']) expect(exists(`config/prometheus/${file}`), file).toBe(true);
  });
});

describe('docs/kubernetes.md', () => {
  const blocks = [...read('docs/kubernetes.md').matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const docs = blocks.flatMap((b) => parseAllDocuments(b).map((d) => d.toJS() as Record<string, unknown>));
  type Container = {
    name: string;
    image: string;
    args?: string[];
    env?: { name: string; value: string }[];
    envFrom?: { secretRef: { name: string } }[];
    ports?: { name: string; containerPort: number }[];
    livenessProbe?: { httpGet: { path: string; port: string | number } };
    readinessProbe?: { httpGet: { path: string; port: string | number } };
    resources?: { requests?: object; limits?: object };
  };
  const deployment = docs.find((d) => d.kind === 'Deployment') as {
    spec: { template: { spec: { terminationGracePeriodSeconds: number; containers: Container[]; initContainers?: Container[] } } };
  };
  const pod = deployment.spec.template.spec;
  const relay = pod.containers.find((c) => c.image.includes('outbox-relay'))!;

  it('every YAML block parses; there is a Secret, a Deployment and a PodMonitor', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(4);
    for (const b of blocks) for (const d of parseAllDocuments(b)) expect(d.errors).toEqual([]);
    expect(docs.map((d) => d.kind)).toEqual(expect.arrayContaining(['Secret', 'Deployment', 'PodMonitor']));
  });

  it('the relay is a sidecar next to the app, with its settings from a Secret the doc defines', () => {
    expect(pod.containers.length).toBeGreaterThanOrEqual(2);
    expect(relay.args).toEqual(['run']);
    const secrets = docs.filter((d) => d.kind === 'Secret').map((d) => (d.metadata as { name: string }).name);
    expect(secrets).toContain(relay.envFrom?.[0]?.secretRef.name);
    const secret = docs.find((d) => d.kind === 'Secret') as { stringData: Record<string, string> };
    expect(Object.keys(secret.stringData)).toContain('DATABASE_URL');
    expect(relay.resources?.requests).toBeDefined();
    expect(relay.resources?.limits).toBeDefined();
    expect(commands).toContain(pod.initContainers?.[0]?.args?.[0]);
  });

  it('liveness on /healthz and readiness on /readyz, on the relay’s HTTP port', () => {
    const port = relay.ports!.find((p) => p.containerPort === HTTP_PORT)!;
    expect(port).toBeDefined();
    expect(relay.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: port.name });
    expect(relay.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: port.name });
    const podMonitor = docs.find((d) => d.kind === 'PodMonitor') as {
      spec: {
        podTargetLabels?: string[];
        podMetricsEndpoints: { port: string; path: string; relabelings: { targetLabel: string; replacement: string }[] }[];
      };
    };
    // The label that tells outboxes apart, since the rules aggregate over instance and pod only.
    expect(podMonitor.spec.podTargetLabels).toContain('app');
    const endpoint = podMonitor.spec.podMetricsEndpoints[0]!;
    expect(endpoint).toMatchObject({ port: port.name, path: '/metrics' });
    expect(endpoint.relabelings).toContainEqual(expect.objectContaining({ targetLabel: 'job', replacement: 'outbox-relay' }));
  });

  it('terminationGracePeriodSeconds is above OUTBOX_SHUTDOWN_TIMEOUT_MS plus closing', () => {
    const shutdownMs = Number(relay.env?.find((e) => e.name === 'OUTBOX_SHUTDOWN_TIMEOUT_MS')?.value ?? SHUTDOWN_MS);
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(shutdownMs + CLOSING_MS);
  });
});

describe('shipped files', () => {
  it('never mention this machine’s paths (/work, ../shared)', () => {
    const files = ['README.md', 'Dockerfile', 'docker-compose.yml', '.dockerignore'];
    const walk = (dir: string): string[] =>
      readdirSync(new URL(dir, root), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(`${dir}/${e.name}`) : [`${dir}/${e.name}`]));
    files.push(...walk('docs'), ...walk('config'));
    // Every --help as printed, including the text added after the options (examples, exit codes).
    let help = '';
    for (const c of [program, ...program.commands, ...program.commands.flatMap((sub) => sub.commands)]) {
      c.configureOutput({ writeOut: (text) => void (help += text) });
      c.outputHelp();
    }
    expect(help).toContain('Exit codes:');
    for (const [name, text] of [...files.map((f) => [f, read(f)] as const), ['--help', help] as const]) {
      expect(text, name).not.toMatch(/\/work\b|\.\.\/shared\b/);
    }
    expect(files).toContain('config/prometheus/alerts.yml');
  });
});
