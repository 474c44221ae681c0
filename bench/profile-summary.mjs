#!/usr/bin/env node
// Summarise a V8 .cpuprofile of a draining relay (bench/relay-process.mjs --prof DIR) by where the
// main thread's time goes: self time grouped by library/area, and the top functions.
//
//   node bench/profile-summary.mjs FILE.cpuprofile [--rows N] [--top 25] [--callers FUNCTION] [--svg OUT.svg]
//
// Only the drain is counted: from the first to the last sample whose stack runs publishBatch (the
// relay's per-batch function), so start-up and shutdown are left out. With --rows, times are also
// shown per row. The profile covers the main JavaScript thread only; CPU on other threads (V8's
// concurrent GC and compiler, libuv) is in /proc's figure but not here.
import { readFileSync, writeFileSync } from 'node:fs';

const args = process.argv.slice(2);
const file = args[0];
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const rows = Number(opt('rows', 0));
const top = Number(opt('top', 25));
if (!file) {
  console.error('usage: node bench/profile-summary.mjs FILE.cpuprofile [--rows N] [--top 25]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

/** Which area a frame belongs to; the first matching rule wins. */
const RULES = [
  ['GC', (f) => f.functionName === '(garbage collector)'],
  ['idle', (f) => f.functionName === '(idle)'],
  ['V8/native (program)', (f) => f.functionName === '(program)'],
  ['kafkajs: CRC32C', (f) => /kafkajs\/src\/protocol\/recordBatch\/crc32C/.test(f.url)],
  ['kafkajs: record/batch encoding (incl. varints)', (f) => /kafkajs\/src\/protocol\/(recordBatch|encoder|message)/.test(f.url)],
  ['kafkajs: produce request/response', (f) => /kafkajs\/src\/protocol\/requests/.test(f.url)],
  ['kafkajs: partitioner (murmur2)', (f) => /kafkajs\/src\/producer\/partitioners/.test(f.url)],
  ['kafkajs: network', (f) => /kafkajs\/src\/network/.test(f.url)],
  ['kafkajs: producer/other', (f) => /kafkajs\//.test(f.url)],
  ['pg: protocol parse/serialise', (f) => /pg-protocol\//.test(f.url)],
  ['pg: type parsers (bytea, int8, date…)', (f) => /(pg-types|postgres-bytea|postgres-date|postgres-array|postgres-interval)\//.test(f.url)],
  ['pg: client/result', (f) => /node_modules\/pg\//.test(f.url)],
  ['logging (pino)', (f) => /(pino|sonic-boom|thread-stream)/.test(f.url)],
  ['metrics (prom-client, relay metrics)', (f) => /prom-client|\/dist\/metrics\/|\/src\/metrics\//.test(f.url)],
  ['relay: mapping', (f) => /\/(dist|src)\/mapping\//.test(f.url)],
  ['relay: publisher (message shape, receipt)', (f) => /\/(dist|src)\/publisher\//.test(f.url)],
  ['relay: batch/validate/loop', (f) => /\/(dist|src)\//.test(f.url)],
  ['node: Buffer', (f) => /^node:buffer|internal\/buffer/.test(f.url)],
  ['node: net/streams/timers', (f) => /^node:/.test(f.url)],
  ['V8 built-ins / other', () => true],
];
const area = (f) => RULES.find(([, test]) => test(f))[0];

// Sample i lasts timeDeltas[i + 1] (the delta before the next sample).
const { samples, timeDeltas } = profile;
const stackHas = (id, name) => {
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) if (byId.get(cur).callFrame.functionName === name) return true;
  return false;
};
let first = samples.findIndex((id) => stackHas(id, 'publishBatch'));
let last = samples.length - 1;
while (last > first && !stackHas(samples[last], 'publishBatch')) last--;
if (first < 0) {
  first = 0;
  last = samples.length - 1;
}
const self = new Map();
let windowUs = 0;
for (let i = first; i <= last; i++) {
  const us = timeDeltas[i + 1] ?? 0;
  windowUs += us;
  self.set(samples[i], (self.get(samples[i]) ?? 0) + us);
}
const areas = new Map();
const fns = new Map();
for (const [id, us] of self) {
  const f = byId.get(id).callFrame;
  const a = area(f);
  areas.set(a, (areas.get(a) ?? 0) + us);
  const short = f.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/(dist|src)\//, '$1/');
  const key = `${f.functionName || '(anonymous)'}  ${short}:${f.lineNumber + 1}`;
  fns.set(key, (fns.get(key) ?? 0) + us);
}
const busy = windowUs - (areas.get('idle') ?? 0);
const fmt = (us) => `${(us / 1000).toFixed(0).padStart(7)} ms ${((100 * us) / busy).toFixed(1).padStart(5)} %${rows ? `  ${(us / rows).toFixed(2).padStart(6)} µs/row` : ''}`;
console.log(`drain window ${(windowUs / 1e6).toFixed(2)} s, main thread busy ${(busy / 1e6).toFixed(2)} s${rows ? ` = ${(busy / rows).toFixed(2)} µs/row` : ''} (idle excluded below)\n`);
for (const [a, us] of [...areas].filter(([a]) => a !== 'idle').sort((x, y) => y[1] - x[1])) console.log(`${a.padEnd(48)}${fmt(us)}`);
console.log(`\ntop ${top} functions by self time`);
for (const [k, us] of [...fns].filter(([k]) => !k.startsWith('(idle)')).sort((x, y) => y[1] - x[1]).slice(0, top)) console.log(`${fmt(us)}  ${k}`);

// --callers NAME: whose calls the self time of functions named NAME is spent in (nearest frame
// outside node:/V8 internals), e.g. --callers FastBuffer to see who allocates Buffers.
const callersOf = opt('callers');
if (callersOf) {
  const by = new Map();
  for (const [id, us] of self) {
    if (byId.get(id).callFrame.functionName !== callersOf) continue;
    let cur = parent.get(id);
    while (cur !== undefined && (/^node:/.test(byId.get(cur).callFrame.url) || byId.get(cur).callFrame.url === '')) cur = parent.get(cur);
    const f = cur === undefined ? { functionName: '(root)', url: '', lineNumber: 0 } : byId.get(cur).callFrame;
    const key = `${f.functionName || '(anonymous)'}  ${f.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/(dist|src)\//, '$1/')}:${f.lineNumber + 1}`;
    by.set(key, (by.get(key) ?? 0) + us);
  }
  console.log(`\nself time of ${callersOf}, by calling function`);
  for (const [k, us] of [...by].sort((x, y) => y[1] - x[1]).slice(0, top)) console.log(`${fmt(us)}  ${k}`);
}

// --svg OUT.svg: a flame graph of the drain window (root at the bottom, width = time), no tools needed.
const svgOut = opt('svg');
if (svgOut) {
  const tree = { name: 'all', us: 0, kids: new Map() };
  for (const [id, us] of self) {
    const f = byId.get(id).callFrame;
    if (f.functionName === '(idle)') continue;
    const stack = [];
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const c = byId.get(cur).callFrame;
      if (c.functionName === '(root)') break;
      stack.push(`${c.functionName || '(anonymous)'} ${c.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/(dist|src)\//, '$1/')}`);
    }
    let node = tree;
    node.us += us;
    for (const name of stack.reverse()) {
      let kid = node.kids.get(name);
      if (!kid) node.kids.set(name, (kid = { name, us: 0, kids: new Map() }));
      kid.us += us;
      node = kid;
    }
  }
  const W = 1800;
  const H = 16;
  const rects = [];
  let depthMax = 0;
  const walk = (node, x, depth) => {
    depthMax = Math.max(depthMax, depth);
    const w = (node.us / tree.us) * W;
    if (w < 0.3) return;
    rects.push({ x, w, depth, node });
    let kx = x;
    for (const kid of [...node.kids.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      walk(kid, kx, depth + 1);
      kx += (kid.us / tree.us) * W;
    }
  };
  walk(tree, 0, 0);
  const height = (depthMax + 2) * H;
  const esc = (t) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const color = (name) => {
    const f = { functionName: name.split(' ')[0], url: name.split(' ').slice(1).join(' ') };
    let h = 0;
    for (const ch of area(f)) h = (h * 31 + ch.charCodeAt(0)) % 360;
    return `hsl(${h},70%,65%)`;
  };
  const body = rects
    .map(({ x, w, depth, node }) => {
      const y = height - (depth + 1) * H;
      const label = w > 40 ? `<text x="${(x + 3).toFixed(1)}" y="${y + 12}" font-size="11">${esc(node.name.slice(0, Math.floor(w / 6.5)))}</text>` : '';
      const ms = (node.us / 1000).toFixed(0);
      return `<g><title>${esc(node.name)}: ${ms} ms (${((100 * node.us) / tree.us).toFixed(1)} %)</title><rect x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${H - 1}" fill="${node === tree ? '#ccc' : color(node.name)}"/>${label}</g>`;
    })
    .join('\n');
  writeFileSync(svgOut, `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" font-family="monospace">\n${body}\n</svg>\n`);
  console.log(`\nflame graph: ${svgOut}`);
}
