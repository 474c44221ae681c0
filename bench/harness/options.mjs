// Command-line options of bench/run.mjs.
export const SYSTEMS = ['relay', 'kafka-ceiling', 'db-ceiling', 'debezium', 'node-peer'];
export const SCENARIOS = ['drain', 'latency', 'sustained', 'wakeup', 'producer-tax', 'replicas'];

export const HELP = `npm run bench [-- options]      (= npm run build && node bench/run.mjs [options])

Runs outbox-relay and the reference systems on the same PostgreSQL and Kafka (stack/up.sh starts or
reuses them), interleaved over rounds, and writes bench/results/latest.json, latest.md and the SVG
charts next to them. Progress goes to stderr.

Each round: the backlog drain of every system (relay, kafka-ceiling, db-ceiling, debezium, node-peer),
then the relay's own scenarios: latency (commit -> consume at 1,000 rows/s and at 50 % / 80 % of the
sustained rate), sustained (stepped offered rates), wakeup (NOTIFY vs poll-only), producer-tax (pgbench,
8 and 32 clients, with and without the NOTIFY trigger) and replicas (1/2/3 replicas, keyed vs keyless).
The reference systems are the modules bench/refs/<name>.mjs; a missing or failing one is recorded as a
failed run and the bench goes on.

Options:
  --quick           under five minutes on a 2-vCPU box: 50,000 rows, 2 rounds of drains, the relay-only
                    scenarios once (last round) with short steps, replicas on 10,000 rows; Debezium
                    is skipped unless named in --only (its JVM start-up alone takes most of a minute)
  --rounds <n>      rounds (default 3, quick 2); medians and min..max are over rounds
  --rows <n>        rows per drain run (default 200000, quick 50000)
  --node-peer-rows <n>
                    rows for the Node peer's drain (default 20000, quick 3000: it publishes one
                    message at a time, ~200 rows/s here; rows/s is what is compared)
  --only <list>     comma-separated systems and/or scenarios to run, e.g. --only relay,
                    --only relay,kafka-ceiling, --only drain, --only wakeup,latency
                    systems: ${SYSTEMS.join(', ')}
                    scenarios: ${SCENARIOS.join(', ')} (all but drain are relay-only)
  --skip <list>     the same names, left out
  --out <dir>       where to write the results (default bench/results)
  --from <file>     run nothing: rewrite latest.md and the charts (into --out) from a latest.json
  -h, --help        this text

Environment: STACK_DIR (where stack/up.sh keeps the Kafka jars and state; see docs/testing.md).
Exit codes: 0 done (failed runs are recorded in the results, not fatal), 2 bad option, 1 the bench
itself could not run (stack down, build missing).`;

export class UsageError extends Error {}

function list(v, flag) {
  const names = String(v ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const known = [...SYSTEMS, ...SCENARIOS];
  const bad = names.filter((n) => !known.includes(n));
  if (names.length === 0 || bad.length) throw new UsageError(`${flag}: unknown name ${bad.join(', ') || '(empty)'}; use some of ${known.join(', ')}`);
  return names;
}

function count(v, flag, min) {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag} needs an integer >= ${min}, got ${v ?? 'nothing'}`);
  return n;
}

export function parseArgs(argv) {
  const o = { quick: false, only: null, skip: [], out: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? a.split(/=(.*)/s) : [a, undefined];
    const value = () => (inline !== undefined ? inline : argv[++i]);
    if (flag === '-h' || flag === '--help') o.help = true;
    else if (flag === '--quick') o.quick = true;
    else if (flag === '--rounds') o.rounds = count(value(), '--rounds', 1);
    else if (flag === '--rows') o.rows = count(value(), '--rows', 1000);
    else if (flag === '--node-peer-rows') o.nodePeerRows = count(value(), '--node-peer-rows', 1000);
    else if (flag === '--only') o.only = list(value(), '--only');
    else if (flag === '--skip') o.skip = list(value(), '--skip');
    else if (flag === '--out') o.out = value();
    else if (flag === '--from') o.from = value();
    else throw new UsageError(`unknown option ${a}; see node bench/run.mjs --help`);
  }
  const q = o.quick;
  const settings = {
    quick: q,
    rounds: o.rounds ?? (q ? 2 : 3),
    rows: o.rows ?? (q ? 50_000 : 200_000),
    payloadBytes: 200,
    keys: 1000,
    partitions: 3,
    drainVariants: q ? ['default'] : ['default', 'batch 2000'],
    latency: q ? { rate: 1000, seconds: 8, warmupS: 2 } : { rate: 1000, seconds: 30, warmupS: 5 },
    sustained: q ? { steps: [2000, 5000, 10000, 15000], seconds: 4, warmupS: 1 } : { steps: [2000, 5000, 10000, 15000, 20000], seconds: 15, warmupS: 3 },
    underLoad: q ? { fractions: [0.5, 0.8], seconds: 4, warmupS: 1 } : { fractions: [0.5, 0.8], seconds: 15, warmupS: 3 },
    wakeup: q ? { notify: 15, 'poll-only': 6 } : { notify: 60, 'poll-only': 20 },
    tax: q ? { clients: [8, 32], seconds: 4 } : { clients: [8, 32], seconds: 15 },
    refTimeoutS: q ? 240 : 1800,
  };
  // quick: the relay-only scenarios run in the last round only, replicas on 10,000 rows
  settings.scenarioRounds = q ? 1 : settings.rounds;
  settings.replicaRows = q ? Math.min(settings.rows, 10_000) : settings.rows;
  // pg-transactional-outbox publishes one message at a time (~160-250 rows/s here): a smaller backlog
  // keeps its run to minutes; its rows/s is compared, not its wall time.
  settings.refRows = { 'node-peer': Math.min(settings.rows, o.nodePeerRows ?? (q ? 3_000 : 20_000)) };
  const sel = (all) => {
    const picked = o.only?.filter((n) => all.includes(n)) ?? [];
    return all.filter((n) => (picked.length === 0 || picked.includes(n)) && !o.skip.includes(n));
  };
  settings.systems = sel(SYSTEMS);
  if (q && !o.only?.includes('debezium')) settings.systems = settings.systems.filter((s) => s !== 'debezium');
  settings.scenarios = sel(SCENARIOS);
  return { help: o.help, out: o.out, from: o.from, settings };
}
