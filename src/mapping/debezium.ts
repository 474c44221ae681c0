/**
 * What Debezium's Outbox Event Router (3.7.0) does to a row's fields, for the debezium mapping.
 * Pure. The conformance test (npm run test:compat, docs/debezium.md) compares it with real Debezium.
 *
 * Assumed converters, the usual ones for the router: keys and headers as strings (StringConverter,
 * SimpleHeaderConverter); values as the payload text (StringConverter), or, with
 * table.expand.json.payload, as JsonConverter with schemas.enable=false writes the expanded struct.
 */
import { javaRegex } from './definition.js';

/**
 * The topic, as Kafka's RegexRouter computes it from the route-by field's value: when the whole value
 * matches route.topic.regex, it is replaced by route.topic.replacement (Java syntax: `${name}`, `$1`,
 * `\$` for a dollar); otherwise the value itself is the topic.
 */
export function routeTopic(value: string, regex: RegExp, replacement: string): string {
  const m = regex.exec(value);
  if (m === null) return value;
  let out = '';
  for (let i = 0; i < replacement.length; i++) {
    const c = replacement[i]!;
    if (c === '\\' && i + 1 < replacement.length) {
      out += replacement[++i];
    } else if (c === '$' && replacement[i + 1] === '{') {
      const end = replacement.indexOf('}', i);
      const name = replacement.slice(i + 2, end);
      if (end < 0 || !m.groups || !(name in m.groups)) throw new Error(`route.topic.replacement refers to an unknown group \${${name}}`);
      out += m.groups[name] ?? '';
      i = end;
    } else if (c === '$' && /[0-9]/.test(replacement[i + 1] ?? '')) {
      // Java takes as many digits as still name an existing group.
      let n = Number(replacement[++i]);
      while (/[0-9]/.test(replacement[i + 1] ?? '') && n * 10 + Number(replacement[i + 1]) < m.length) n = n * 10 + Number(replacement[++i]);
      if (n >= m.length) throw new Error(`route.topic.replacement refers to group $${n}, which the regex does not have`);
      out += m[n] ?? '';
    } else {
      out += c;
    }
  }
  return out;
}

export function compileRoute(regex: string, replacement: string): (value: string) => string {
  const re = javaRegex(regex);
  return (value) => routeTopic(value, re, replacement);
}

/** A parsed JSON value that keeps number tokens and key order as written. */
type Json = null | boolean | string | { num: string } | Json[] | { obj: [string, Json][] };

/** Parse JSON text (PostgreSQL's jsonb output), keeping numbers as written and keys in order. */
export function parseJson(text: string): Json {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const fail = (): never => {
    throw new SyntaxError(`invalid JSON at ${i}`);
  };
  const value = (): Json => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj: [string, Json][] = [];
      ws();
      if (text[i] === '}') return i++, { obj };
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        const k = str();
        ws();
        if (text[i++] !== ':') fail();
        obj.push([k, value()]);
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') return i++, { obj };
        else fail();
      }
    }
    if (c === '[') {
      i++;
      const arr: Json[] = [];
      ws();
      if (text[i] === ']') return i++, arr;
      for (;;) {
        arr.push(value());
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') return i++, arr;
        else fail();
      }
    }
    if (c === '"') return str();
    for (const [word, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (text.startsWith(word, i)) return (i += word.length), v;
    }
    const num = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (num === null) fail();
    i += num![0].length;
    return { num: num![0] };
  };
  const str = (): string => {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (i >= text.length) fail();
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const v = value();
  ws();
  if (i !== text.length) fail();
  return v;
}

/** Java's Double.toString: at least one decimal, scientific notation outside [1e-3, 1e7). */
export function javaDouble(x: number): string {
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  if (!Number.isFinite(x)) return x > 0 ? 'Infinity' : x < 0 ? '-Infinity' : 'NaN';
  const abs = Math.abs(x);
  if (abs >= 1e-3 && abs < 1e7) {
    const s = String(x);
    return s.includes('.') ? s : `${s}.0`;
  }
  const [mantissa = '', exponent = ''] = x.toExponential().split('e');
  return `${mantissa.includes('.') ? mantissa : `${mantissa}.0`}E${exponent.replace('+', '')}`;
}

/** Jackson's number kinds: int, long, else a double. */
function number(token: string): string {
  if (/^-?[0-9]+$/.test(token)) {
    const big = BigInt(token);
    if (big >= -(2n ** 63n) && big < 2n ** 63n) return big.toString();
  }
  return javaDouble(Number(token));
}

/**
 * A JSON string as Jackson writes it: non-ASCII characters of the Basic Multilingual Plane as they
 * are, characters beyond it as escaped surrogate pairs (\uD83D\uDE00), control characters as
 * upper-case \u00XX escapes.
 */
export function jacksonString(text: string): string {
  let out = '"';
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const c = text[i]!;
    if (c === '"' || c === '\\') out += `\\${c}`;
    else if (code < 0x20) out += SHORT_ESCAPES[c] ?? `\\u${hex4(code)}`;
    else if (code >= 0xd800 && code <= 0xdfff) out += `\\u${hex4(code)}`;
    else out += c;
  }
  return `${out}"`;
}

const SHORT_ESCAPES: Record<string, string> = { '\b': '\\b', '\t': '\\t', '\n': '\\n', '\f': '\\f', '\r': '\\r' };
const hex4 = (code: number) => code.toString(16).toUpperCase().padStart(4, '0');

/**
 * The router builds the struct's schema from the values present: a field whose value is null, or an
 * array without a non-null element, has no schema, and is left out.
 */
function hasSchema(v: Json): boolean {
  return v !== null && !(Array.isArray(v) && v.every((x) => x === null));
}

function write(v: Json): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return jacksonString(v);
  if (Array.isArray(v)) return `[${v.map(write).join(',')}]`;
  if ('num' in v) return number(v.num);
  return `{${v.obj
    .filter(([, x]) => hasSchema(x))
    .map(([k, x]) => `${jacksonString(k)}:${write(x)}`)
    .join(',')}}`;
}

/**
 * table.expand.json.payload: the payload text parsed into a struct and written by JsonConverter
 * (schemas.enable=false): compact, key order kept, null fields dropped, numbers as Jackson writes
 * int/long/double. Only an object is expanded: a payload that is not JSON, or is a JSON string,
 * number or literal, is left a string, which JsonConverter writes as a JSON string (the router logs
 * "JSON expansion failed"). A top-level array is treated the same here; Debezium 3.7.0 fails its
 * task on one ("Invalid type for ARRAY"), see docs/debezium.md.
 */
export function expandJsonPayload(text: string): string {
  if (!text.startsWith('{')) return jacksonString(text);
  try {
    return write(parseJson(text));
  } catch {
    return jacksonString(text);
  }
}
