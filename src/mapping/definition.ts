/**
 * The row-to-message mapping, resolved once from the settings (src/config.ts): which columns give a
 * message's topic, key, partition, value, headers and timestamp. Two families:
 *
 * - native: the relay's own outbox table (created by `migrate`), with the mapping options
 *   (topic template, key/partition column, static headers, timestamp, CloudEvents binary mode);
 * - debezium: a Debezium-style outbox table the relay did not create, published the way Debezium's
 *   Outbox Event Router publishes it (see ./debezium.ts and docs/debezium.md).
 *
 * Pure and client-neutral: nothing under src/mapping/ imports a Kafka client (a unit test checks).
 */
import { ConfigError } from '../errors.js';
import { IDENTIFIER } from '../names.js';

export type MappingKind = 'native' | 'debezium';

/** A template over columns: literal text and column references, `events.{aggregate_type}`. */
export type TemplatePart = { text: string } | { column: string };

export interface CloudEventsMapping {
  source: string;
  /** Column whose text is ce_type; undefined: the topic name. */
  typeColumn: string | undefined;
  contentType: string;
}

export interface NativeMapping {
  kind: 'native';
  topic: TemplatePart[];
  keyColumn: string;
  partitionColumn: string | undefined;
  staticHeaders: [string, string][];
  timestamp: 'none' | 'created_at';
  cloudEvents: CloudEventsMapping | undefined;
}

export interface AdditionalField {
  column: string;
  placement: 'header' | 'partition';
  /** Header name (the column's name unless an alias is given). */
  alias: string;
}

export interface DebeziumMapping {
  kind: 'debezium';
  idField: string;
  keyField: string;
  payloadField: string;
  routeByField: string;
  /** A Java regular expression, as route.topic.regex. */
  routeTopicRegex: string;
  /** As route.topic.replacement: `${name}` / `$1` refer to the regex's groups. */
  routeTopicReplacement: string;
  additional: AdditionalField[];
  expandJsonPayload: boolean;
  tombstoneOnEmptyPayload: boolean;
  timestamp: 'none' | 'created_at';
}

export type Mapping = NativeMapping | DebeziumMapping;

/** The settings a mapping is built from (a slice of src/config.ts's Config). */
export interface MappingSettings {
  mapping: MappingKind;
  topicTemplate: string;
  keyColumn: string;
  partitionColumn: string;
  staticHeaders: string;
  timestamp: 'none' | 'created_at';
  cloudEvents: 'off' | 'binary';
  ceSource: string;
  ceTypeColumn: string;
  ceContentType: string;
  debeziumIdField: string;
  debeziumKeyField: string;
  debeziumPayloadField: string;
  debeziumRouteByField: string;
  debeziumRouteTopicRegex: string;
  debeziumRouteTopicReplacement: string;
  debeziumAdditionalPlacement: string;
  debeziumExpandJsonPayload: boolean;
  debeziumTombstoneOnEmptyPayload: boolean;
}

/** The defaults: the relay's own table, published as it always was. */
export const DEFAULT_MAPPING_SETTINGS: MappingSettings = {
  mapping: 'native',
  topicTemplate: '{topic}',
  keyColumn: 'key',
  partitionColumn: '',
  staticHeaders: '',
  timestamp: 'none',
  cloudEvents: 'off',
  ceSource: '',
  ceTypeColumn: '',
  ceContentType: 'application/json',
  debeziumIdField: 'id',
  debeziumKeyField: 'aggregateid',
  debeziumPayloadField: 'payload',
  debeziumRouteByField: 'aggregatetype',
  debeziumRouteTopicRegex: '(?<routedByValue>.*)',
  debeziumRouteTopicReplacement: 'outbox.event.${routedByValue}',
  debeziumAdditionalPlacement: '',
  debeziumExpandJsonPayload: false,
  debeziumTombstoneOnEmptyPayload: false,
};

/** `events.{aggregate_type}` → parts; a column reference must be a plain lower-case identifier. */
export function parseTopicTemplate(template: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  const re = /\{([^{}]*)\}/g;
  let last = 0;
  for (let m = re.exec(template); m !== null; m = re.exec(template)) {
    if (m.index > last) parts.push({ text: template.slice(last, m.index) });
    const column = m[1]!;
    if (!IDENTIFIER.test(column)) throw new ConfigError(`OUTBOX_TOPIC_TEMPLATE ${JSON.stringify(template)}: {${column}} is not a column name (lower-case letters, digits, _)`);
    parts.push({ column });
    last = m.index + m[0].length;
  }
  if (last < template.length) parts.push({ text: template.slice(last) });
  for (const p of parts) {
    if ('text' in p && /[{}]/.test(p.text)) throw new ConfigError(`OUTBOX_TOPIC_TEMPLATE ${JSON.stringify(template)}: unbalanced { }`);
  }
  if (!parts.some((p) => 'column' in p)) throw new ConfigError(`OUTBOX_TOPIC_TEMPLATE ${JSON.stringify(template)} names no column: use {topic} or a template such as events.{aggregate_type}`);
  return parts;
}

/** `name=value,name2=value2` or a JSON object of strings. */
export function parseStaticHeaders(text: string): [string, string][] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  if (trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw new ConfigError('OUTBOX_STATIC_HEADERS is not valid JSON: expected {"name":"value"} or name=value,name2=value2');
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed) || Object.values(parsed).some((v) => typeof v !== 'string')) {
      throw new ConfigError('OUTBOX_STATIC_HEADERS must be a JSON object of strings');
    }
    return Object.entries(parsed as Record<string, string>);
  }
  return trimmed.split(',').map((pair) => {
    const eq = pair.indexOf('=');
    const name = eq < 0 ? '' : pair.slice(0, eq).trim();
    if (name === '') throw new ConfigError(`OUTBOX_STATIC_HEADERS: ${JSON.stringify(pair)} is not name=value`);
    return [name, pair.slice(eq + 1).trim()] as [string, string];
  });
}

/** As table.fields.additional.placement: `col:header[:alias]`, `col:partition`, comma-separated. */
export function parseAdditionalPlacement(text: string): AdditionalField[] {
  if (text.trim() === '') return [];
  return text.split(',').map((entry) => {
    const [column = '', placement = '', alias, ...rest] = entry.trim().split(':');
    column_(column, 'OUTBOX_DEBEZIUM_ADDITIONAL_PLACEMENT');
    if (rest.length > 0) throw new ConfigError(`OUTBOX_DEBEZIUM_ADDITIONAL_PLACEMENT: ${JSON.stringify(entry)} has too many parts (col:header[:alias] or col:partition)`);
    if (placement === 'envelope') {
      throw new ConfigError(
        `OUTBOX_DEBEZIUM_ADDITIONAL_PLACEMENT: ${JSON.stringify(entry)}: envelope placement is not supported (the value would become a Connect struct, which only a schema-aware converter can write); place it in a header`,
      );
    }
    if (placement !== 'header' && placement !== 'partition') {
      throw new ConfigError(`OUTBOX_DEBEZIUM_ADDITIONAL_PLACEMENT: ${JSON.stringify(entry)}: placement must be header or partition`);
    }
    if (placement === 'partition' && alias !== undefined) throw new ConfigError(`OUTBOX_DEBEZIUM_ADDITIONAL_PLACEMENT: ${JSON.stringify(entry)}: a partition takes no alias`);
    return { column, placement, alias: alias === undefined || alias === '' ? column : alias };
  });
}

function column_(name: string, setting: string): string {
  if (!IDENTIFIER.test(name)) throw new ConfigError(`${setting}: ${JSON.stringify(name)} is not a column name (lower-case letters, digits, _)`);
  return name;
}

/** Resolve and cross-check the mapping settings; throws ConfigError naming the setting at fault. */
export function resolveMapping(s: MappingSettings): Mapping {
  if (s.mapping === 'debezium') {
    const nativeOnly: [keyof MappingSettings, string][] = [
      ['topicTemplate', 'OUTBOX_TOPIC_TEMPLATE'],
      ['keyColumn', 'OUTBOX_KEY_COLUMN'],
      ['partitionColumn', 'OUTBOX_PARTITION_COLUMN'],
      ['staticHeaders', 'OUTBOX_STATIC_HEADERS'],
      ['cloudEvents', 'OUTBOX_CLOUDEVENTS'],
    ];
    for (const [key, env] of nativeOnly) {
      if (s[key] !== DEFAULT_MAPPING_SETTINGS[key]) throw new ConfigError(`${env} applies to OUTBOX_MAPPING=native only; with debezium use the OUTBOX_DEBEZIUM_* settings`);
    }
    try {
      javaRegex(s.debeziumRouteTopicRegex);
    } catch (err) {
      throw new ConfigError(`OUTBOX_DEBEZIUM_ROUTE_TOPIC_REGEX ${JSON.stringify(s.debeziumRouteTopicRegex)} is not a regular expression: ${(err as Error).message}`);
    }
    const additional = parseAdditionalPlacement(s.debeziumAdditionalPlacement);
    if (additional.filter((a) => a.placement === 'partition').length > 1) throw new ConfigError('OUTBOX_DEBEZIUM_ADDITIONAL_PLACEMENT: at most one column can give the partition');
    return {
      kind: 'debezium',
      idField: column_(s.debeziumIdField, 'OUTBOX_DEBEZIUM_EVENT_ID_FIELD'),
      keyField: column_(s.debeziumKeyField, 'OUTBOX_DEBEZIUM_EVENT_KEY_FIELD'),
      payloadField: column_(s.debeziumPayloadField, 'OUTBOX_DEBEZIUM_PAYLOAD_FIELD'),
      routeByField: column_(s.debeziumRouteByField, 'OUTBOX_DEBEZIUM_ROUTE_BY_FIELD'),
      routeTopicRegex: s.debeziumRouteTopicRegex,
      routeTopicReplacement: s.debeziumRouteTopicReplacement,
      additional,
      expandJsonPayload: s.debeziumExpandJsonPayload,
      tombstoneOnEmptyPayload: s.debeziumTombstoneOnEmptyPayload,
      timestamp: s.timestamp,
    };
  }
  let cloudEvents: CloudEventsMapping | undefined;
  if (s.cloudEvents === 'binary') {
    if (s.ceSource.trim() === '') throw new ConfigError('OUTBOX_CLOUDEVENTS=binary needs OUTBOX_CE_SOURCE (the ce_source of every event, e.g. /orders-service)');
    cloudEvents = {
      source: s.ceSource.trim(),
      typeColumn: s.ceTypeColumn === '' ? undefined : column_(s.ceTypeColumn, 'OUTBOX_CE_TYPE_COLUMN'),
      contentType: s.ceContentType,
    };
  } else if (s.ceSource !== '' || s.ceTypeColumn !== '') {
    throw new ConfigError('OUTBOX_CE_SOURCE / OUTBOX_CE_TYPE_COLUMN are set but OUTBOX_CLOUDEVENTS is off: set OUTBOX_CLOUDEVENTS=binary or unset them');
  }
  return {
    kind: 'native',
    topic: parseTopicTemplate(s.topicTemplate),
    keyColumn: column_(s.keyColumn, 'OUTBOX_KEY_COLUMN'),
    partitionColumn: s.partitionColumn === '' ? undefined : column_(s.partitionColumn, 'OUTBOX_PARTITION_COLUMN'),
    staticHeaders: parseStaticHeaders(s.staticHeaders),
    timestamp: s.timestamp,
    cloudEvents,
  };
}

/**
 * A Java regular expression as a JavaScript one, for the subset route.topic.regex uses in practice:
 * named groups `(?<name>…)` are the same in both; Java's possessive quantifiers and \A \Z are not
 * supported and fail here rather than match differently.
 */
export function javaRegex(source: string): RegExp {
  if (/\\[AZz]|[*+?}]\+/.test(source)) throw new Error('possessive quantifiers and \\A \\Z \\z are not supported');
  return new RegExp(`^(?:${source})$`, 'u');
}

/** The default mapping: the relay's own table, as published before mappings existed. */
export const NATIVE_MAPPING: Mapping = resolveMapping(DEFAULT_MAPPING_SETTINGS);
