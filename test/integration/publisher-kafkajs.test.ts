/** The kafkajs implementation of the Kafka client seam against the contract (test/contract/publisher.contract.ts). */
import { classifyPublishError } from '../../src/publisher/classify.js';
import { KafkaPublisher } from '../../src/publisher/kafka.js';
import { publisherContract } from '../contract/publisher.contract.js';

publisherContract({ name: 'kafkajs (src/publisher/kafka.ts)', create: (options) => new KafkaPublisher(options), classify: classifyPublishError });
