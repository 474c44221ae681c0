/**
 * The librdkafka implementation of the Kafka client seam (src/publisher/rdkafka.ts, KAFKA_CLIENT=
 * librdkafka) against the same contract as kafkajs (test/contract/publisher.contract.ts). The client
 * is an optional package built from source on install (docs/performance.md): where it is not
 * installed this file says so and skips; where it is, it must pass every case.
 */
import { createRequire } from 'node:module';
import { describe, it } from 'vitest';
import { classifyPublishError } from '../../src/publisher/classify.js';
import { RDKAFKA_PACKAGE, RdkafkaPublisher } from '../../src/publisher/rdkafka.js';
import { publisherContract } from '../contract/publisher.contract.js';

let installed = true;
try {
  createRequire(import.meta.url).resolve(RDKAFKA_PACKAGE);
} catch {
  installed = false;
}

if (installed) {
  publisherContract({ name: 'librdkafka (src/publisher/rdkafka.ts)', create: (options) => new RdkafkaPublisher(options), classify: classifyPublishError });
} else {
  describe('Publisher contract: librdkafka', () => {
    it.skip(`${RDKAFKA_PACKAGE} is not installed (CKJS_LINKING=dynamic npm install ${RDKAFKA_PACKAGE}@1.10.1 --no-save)`, () => undefined);
  });
}
