/**
 * The admin-side look at Kafka that `outbox-relay doctor` needs, returned as plain objects so no
 * kafkajs type leaves src/publisher/: is the cluster reachable, does each topic exist, does every
 * partition have a leader, and are enough replicas in sync (min.insync.replicas, read per topic).
 * It connects with the relay's security settings (TLS, SASL) like the relay's own clients.
 */
import { Kafka, logLevel, type ConfigResourceTypes } from 'kafkajs';
import { describeError } from '../errors.js';
import { withDeadline } from '../sleep.js';
import type { KafkaSecurity } from './security.js';

export interface PartitionHealth {
  partition: number;
  /** Broker id of the leader; -1 when the partition has none. */
  leader: number;
  replicas: number;
  inSync: number;
}

export interface TopicHealth {
  topic: string;
  exists: boolean;
  partitions: PartitionHealth[];
  /** The topic's min.insync.replicas, if the cluster would say (undefined when not allowed to read it). */
  minInsyncReplicas?: number;
}

export interface KafkaInspection {
  reachable: boolean;
  /** Why not, when unreachable. */
  error?: string;
  brokers: number;
  topics: TopicHealth[];
}

export async function inspectKafka(options: {
  brokers: string[];
  clientId: string;
  timeoutMs: number;
  topics: string[];
  /** TLS and SASL, as built for the relay (./security.ts kafkaSecurity). */
  security?: Pick<KafkaSecurity, 'ssl' | 'sasl'>;
}): Promise<KafkaInspection> {
  const { ssl, sasl } = options.security ?? {};
  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    ...(ssl ? { ssl } : {}),
    ...(sasl ? { sasl } : {}),
    connectionTimeout: 3000,
    requestTimeout: options.timeoutMs,
    logLevel: logLevel.NOTHING,
    retry: { retries: 1 },
  });
  const admin = kafka.admin({ retry: { retries: 1 } });
  try {
    return await withDeadline(
      (async () => {
        await admin.connect();
        const cluster = await admin.describeCluster();
        const existing = new Set(await admin.listTopics());
        const present = options.topics.filter((t) => existing.has(t));
        const metadata = present.length > 0 ? (await admin.fetchTopicMetadata({ topics: present })).topics : [];
        const minIsr = await minInsyncReplicas(admin, present);
        const topics = options.topics.map((topic): TopicHealth => {
          const meta = metadata.find((m) => m.name === topic);
          return {
            topic,
            exists: meta !== undefined,
            partitions: (meta?.partitions ?? [])
              .map((p) => ({ partition: p.partitionId, leader: p.leader, replicas: p.replicas.length, inSync: p.isr.length }))
              .sort((a, b) => a.partition - b.partition),
            ...(minIsr.has(topic) ? { minInsyncReplicas: minIsr.get(topic) } : {}),
          };
        });
        return { reachable: true, brokers: cluster.brokers.length, topics };
      })(),
      options.timeoutMs,
      'inspecting Kafka',
    );
  } catch (err) {
    return { reachable: false, error: describeError(err), brokers: 0, topics: [] };
  } finally {
    await withDeadline(admin.disconnect(), 5000, 'disconnecting the admin client').catch(() => undefined);
  }
}

/** kafkajs's ConfigResourceTypes.TOPIC: the enum is a type only in its ESM view (kafkajs is CommonJS). */
const TOPIC_RESOURCE = 2 as ConfigResourceTypes;

/** min.insync.replicas per topic; topics whose config cannot be read (no DESCRIBE_CONFIGS) are left out. */
async function minInsyncReplicas(admin: ReturnType<Kafka['admin']>, topics: string[]): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  if (topics.length === 0) return found;
  try {
    const described = await admin.describeConfigs({
      resources: topics.map((name) => ({ type: TOPIC_RESOURCE, name, configNames: ['min.insync.replicas'] })),
      includeSynonyms: false,
    });
    for (const r of described.resources) {
      const entry = r.errorCode === 0 ? r.configEntries.find((e) => e.configName === 'min.insync.replicas') : undefined;
      if (entry) found.set(r.resourceName, Number(entry.configValue));
    }
  } catch {
    // Not allowed to read topic configs: the in-sync check falls back to "at least one in sync".
  }
  return found;
}
