// Small hand-written SVG charts (no dependency): lines over x/y and bars with a min..max whisker.
const W = 720;
const H = 360;
const M = { l: 70, r: 180, t: 40, b: 50 };
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v) => (Math.abs(v) >= 1000 ? `${Math.round(v / 100) / 10}k` : String(Number(v.toPrecision(3))));

function ticks(lo, hi, n = 5) {
  const step0 = (hi - lo) / n || 1;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(v);
  return out;
}

function frame(title, xLabel, yLabel, body) {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">
<rect width="${W}" height="${H}" fill="white"/>
<text x="${W / 2 - M.r / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>
<text x="${M.l + (W - M.l - M.r) / 2}" y="${H - 10}" text-anchor="middle">${esc(xLabel)}</text>
<text transform="translate(16 ${M.t + (H - M.t - M.b) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>
${body}
</svg>
`;
}

/**
 * series: [{ name, points: [[x, y]] }]. xScale: 'linear' or 'nines' (percentiles 0..100 spread as
 * -log10(1 - p/100), so 90, 99, 99.9 are evenly spaced). yLog: log10 y axis.
 */
export function lineChart({ title, xLabel, yLabel, series, xScale = 'linear', yLog = false }) {
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return frame(title, xLabel, yLabel, '<text x="300" y="180">no data</text>');
  const fx = xScale === 'nines' ? (p) => -Math.log10(Math.max(1e-5, 1 - p / 100)) : (x) => x;
  const fy = yLog ? (y) => Math.log10(Math.max(1e-3, y)) : (y) => y;
  const xs = all.map(([x]) => fx(x));
  const ys = all.map(([, y]) => fy(y));
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs) || 1;
  const y0 = yLog ? Math.floor(Math.min(...ys)) : 0;
  const y1 = yLog ? Math.ceil(Math.max(...ys)) : Math.max(...ys) * 1.05 || 1;
  const px = (x) => M.l + ((fx(x) - x0) / (x1 - x0 || 1)) * (W - M.l - M.r);
  const py = (y) => H - M.b - ((fy(y) - y0) / (y1 - y0 || 1)) * (H - M.t - M.b);
  let body = `<line x1="${M.l}" y1="${H - M.b}" x2="${W - M.r}" y2="${H - M.b}" stroke="black"/><line x1="${M.l}" y1="${M.t}" x2="${M.l}" y2="${H - M.b}" stroke="black"/>\n`;
  const yt = yLog ? Array.from({ length: y1 - y0 + 1 }, (_, i) => 10 ** (y0 + i)) : ticks(0, y1);
  for (const v of yt) body += `<line x1="${M.l}" y1="${py(v)}" x2="${W - M.r}" y2="${py(v)}" stroke="#ddd"/><text x="${M.l - 6}" y="${py(v) + 4}" text-anchor="end">${fmt(v)}</text>\n`;
  const xt = xScale === 'nines' ? [0, 50, 90, 99, 99.9, 99.99].filter((p) => fx(p) <= x1 + 1e-9) : ticks(x0, x1);
  for (const v of xt) body += `<text x="${px(v)}" y="${H - M.b + 16}" text-anchor="middle">${xScale === 'nines' ? `p${v}` : fmt(v)}</text>\n`;
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    const d = s.points.map(([x, y], k) => `${k ? 'L' : 'M'}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
    body += `<path d="${d}" fill="none" stroke="${c}" stroke-width="2"/>\n`;
    body += `<rect x="${W - M.r + 10}" y="${M.t + i * 18}" width="12" height="12" fill="${c}"/><text x="${W - M.r + 28}" y="${M.t + i * 18 + 10}">${esc(s.name)}</text>\n`;
  });
  return frame(title, xLabel, yLabel, body);
}

/** bars: [{ label, value, min?, max? }]; oneColor for a histogram, else one colour per bar. */
export function barChart({ title, yLabel, bars, oneColor = false }) {
  const top = Math.max(1, ...bars.map((b) => b.max ?? b.value ?? 0)) * 1.1;
  const bw = (W - M.l - M.r) / Math.max(1, bars.length);
  const py = (y) => H - M.b - (y / top) * (H - M.t - M.b);
  let body = `<line x1="${M.l}" y1="${H - M.b}" x2="${W - M.r}" y2="${H - M.b}" stroke="black"/>\n`;
  for (const v of ticks(0, top)) body += `<line x1="${M.l}" y1="${py(v)}" x2="${W - M.r}" y2="${py(v)}" stroke="#ddd"/><text x="${M.l - 6}" y="${py(v) + 4}" text-anchor="end">${fmt(v)}</text>\n`;
  bars.forEach((b, i) => {
    const x = M.l + i * bw + bw * 0.15;
    const c = COLORS[oneColor ? 0 : i % COLORS.length];
    if (typeof b.value === 'number') {
      body += `<rect x="${x}" y="${py(b.value)}" width="${bw * 0.7}" height="${H - M.b - py(b.value)}" fill="${c}"/>\n`;
      body += `<text x="${x + bw * 0.35}" y="${py(Math.max(b.value, b.max ?? 0)) - 4}" text-anchor="middle">${fmt(b.value)}</text>\n`;
      if (typeof b.min === 'number' && typeof b.max === 'number') body += `<line x1="${x + bw * 0.35}" y1="${py(b.min)}" x2="${x + bw * 0.35}" y2="${py(b.max)}" stroke="black"/>\n`;
    } else {
      body += `<text x="${x + bw * 0.35}" y="${H - M.b - 6}" text-anchor="middle">n/a</text>\n`;
    }
    body += `<text x="${x + bw * 0.35}" y="${H - M.b + 16}" text-anchor="middle">${esc(b.label)}</text>\n`;
  });
  return frame(title, '', yLabel, body);
}
