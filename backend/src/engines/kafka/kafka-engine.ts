/**
 * The Kafka engine: the stream engine (engines/stream) over librdkafka, the log-client adapter
 * of client.ts. Everything else, from startup checks to recovery, is the shared runtime's.
 */
import { ConfigError, type Settings } from '../../config/config.ts';
import { StreamEngine, type StreamEngineOptions } from '../stream/stream-engine.ts';
import { type ClientConfig, clientConfigError, LibrdkafkaClients } from './client.ts';

/** Refuses, naming the setting, a property librdkafka does not take (checked before any connection). */
function checkClientProperties(settings: Settings): void {
  const { all, consumer, producer } = settings.kafkaClientConfig;
  const checks: Array<[string, ClientConfig, 'consumer' | 'producer']> = [
    ['KAFKA_CONFIG', all, 'consumer'],
    ['KAFKA_CONFIG', all, 'producer'],
    ['KAFKA_CONSUMER_CONFIG', { ...all, ...consumer }, 'consumer'],
    ['KAFKA_PRODUCER_CONFIG', { ...all, ...producer }, 'producer'],
  ];
  for (const [setting, config, kind] of checks) {
    const error = clientConfigError(config, kind);
    if (error !== undefined) throw new ConfigError(setting, `librdkafka refused it: ${error}`);
  }
}

export interface KafkaEngineOptions extends Omit<StreamEngineOptions, 'clients' | 'info' | 'statusReaderTuning'> {
  /** Extra librdkafka settings for every client (e.g. security). */
  readonly clientConfig?: ClientConfig;
  /** Extra librdkafka settings for the status topic's reader (tuning; tests make it slow with them). */
  readonly statusReaderTuning?: ClientConfig;
}

/** The librdkafka clients of a process, from its settings (brokers, KAFKA_* properties). */
export function kafkaClients(settings: Settings, extra: ClientConfig = {}): LibrdkafkaClients {
  if (settings.kafkaBrokers === undefined) throw new ConfigError('KAFKA_BROKERS', 'the Kafka brokers are needed (host:port, comma-separated)');
  checkClientProperties(settings);
  return new LibrdkafkaClients(
    { ...settings.kafkaClientConfig.all, 'bootstrap.servers': settings.kafkaBrokers, ...extra },
    { consumer: settings.kafkaClientConfig.consumer, producer: settings.kafkaClientConfig.producer },
  );
}

export class KafkaEngine extends StreamEngine {
  constructor(settings: Settings, options: KafkaEngineOptions) {
    const { clientConfig, ...rest } = options;
    super(settings, {
      ...rest,
      clients: kafkaClients(settings, clientConfig),
      info: { kind: 'kafka', durable: true, description: `Kafka at ${settings.kafkaBrokers}` },
    });
  }
}
