/**
 * The Kafka engine: the stream engine (engines/stream) over librdkafka, the log-client adapter
 * of client.ts. Everything else, from startup checks to recovery, is the shared runtime's.
 */
import { ConfigError, type Settings } from '../../config/config.ts';
import { StreamEngine, type StreamEngineOptions } from '../stream/stream-engine.ts';
import { type ClientConfig, clientConfigError, LibrdkafkaClients, probeCluster } from './client.ts';

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

/**
 * A first connection with the settings' credentials and TLS files: a refused password or an
 * untrusted certificate stops startup with a ConfigError naming the settings (librdkafka would
 * retry them forever). An unreachable cluster is left to the engine's own retries.
 */
export async function checkKafkaConnection(settings: Settings): Promise<void> {
  const config = settings.kafkaClientConfig.all;
  const explicit = (env: string, key: string): string => (config[key] === undefined ? '' : ` ${env}=${key === 'sasl.password' ? '***' : config[key]}`);
  if (config['security.protocol'] === undefined || config['security.protocol'] === 'plaintext') return;
  const result = await probeCluster({ ...config, 'bootstrap.servers': settings.kafkaBrokers! }, 10_000);
  if (result.ok || result.problem === 'unreachable') return;
  if (result.problem === 'authentication') {
    throw new ConfigError(
      'KAFKA_SASL_USERNAME',
      `Kafka at ${settings.kafkaBrokers} refused the SASL credentials (user${explicit('KAFKA_SASL_USERNAME', 'sasl.username')}, mechanism${explicit('KAFKA_SASL_MECHANISM', 'sasl.mechanisms')}; check KAFKA_SASL_PASSWORD): ${result.message}`,
    );
  }
  throw new ConfigError(
    config['ssl.ca.location'] === undefined ? 'KAFKA_SECURITY_PROTOCOL' : 'KAFKA_SSL_CA_FILE',
    `the TLS handshake with Kafka at ${settings.kafkaBrokers} failed (CA${explicit('KAFKA_SSL_CA_FILE', 'ssl.ca.location')}${config['ssl.ca.location'] === undefined ? ' none given: the system\'s roots' : ''}): ${result.message}`,
  );
}

export class KafkaEngine extends StreamEngine {
  readonly #settings: Settings;

  override async start(): Promise<void> {
    await checkKafkaConnection(this.#settings);
    await super.start();
  }

  constructor(settings: Settings, options: KafkaEngineOptions) {
    const { clientConfig, ...rest } = options;
    super(settings, {
      ...rest,
      clients: kafkaClients(settings, clientConfig),
      info: { kind: 'kafka', durable: true, description: `Kafka at ${settings.kafkaBrokers}` },
    });
    this.#settings = settings;
  }
}
