/**
 * The Kafka engine: the stream engine (engines/stream) over librdkafka, the log-client adapter
 * of client.ts. Everything else, from startup checks to recovery, is the shared runtime's.
 */
import type { Settings } from '../../config/config.ts';
import { StreamEngine, type StreamEngineOptions } from '../stream/stream-engine.ts';
import { type ClientConfig, LibrdkafkaClients } from './client.ts';

export interface KafkaEngineOptions extends Omit<StreamEngineOptions, 'clients' | 'info' | 'statusReaderTuning'> {
  /** Extra librdkafka settings for every client (e.g. security). */
  readonly clientConfig?: ClientConfig;
  /** Extra librdkafka settings for the status topic's reader (tuning; tests make it slow with them). */
  readonly statusReaderTuning?: ClientConfig;
}

export class KafkaEngine extends StreamEngine {
  constructor(settings: Settings, options: KafkaEngineOptions) {
    if (settings.kafkaBrokers === undefined) throw new Error('KafkaEngine needs KAFKA_BROKERS');
    const { clientConfig, ...rest } = options;
    super(settings, {
      ...rest,
      clients: new LibrdkafkaClients({ 'bootstrap.servers': settings.kafkaBrokers, ...clientConfig }),
      info: { kind: 'kafka', durable: true, description: `Kafka at ${settings.kafkaBrokers}` },
    });
  }
}
