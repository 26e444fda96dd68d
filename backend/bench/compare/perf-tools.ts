/**
 * Kafka's own perf tools (kafka-tools on the Kafka assembled by scripts/start_infra.sh): the
 * limit of what this broker takes on this machine, measured in the same run as the systems.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './systems.ts';

const run = promisify(execFile);

function kafkaLibs(): string {
  const version = process.env.KAFKA_VERSION ?? '4.1.2';
  const libs = path.join(ROOT, '.cache/kafka', version, 'libs');
  if (!existsSync(libs) || !readdirSync(libs).some((f) => f.startsWith('kafka-tools-'))) {
    throw new Error(`Kafka's tools are not in ${libs}: run scripts/start_infra.sh first`);
  }
  return libs;
}

async function tool(main: string, args: string[]): Promise<string> {
  const { stdout } = await run(
    'java',
    ['-Xmx1g', `-Dlog4j2.configurationFile=${path.join(ROOT, 'scripts/kafka/tools-log4j2.yaml')}`, '-cp', `${kafkaLibs()}/*`, main, ...args],
    { maxBuffer: 64 * 1024 * 1024, timeout: 900_000 },
  );
  return stdout;
}

/** Records per second of ProducerPerformance: 100-byte records, idempotent or with transactions. */
export async function producerPerf(bootstrap: string, topic: string, records: number, transactionMs: number | undefined): Promise<number> {
  const args = ['--topic', topic, '--num-records', String(records), '--record-size', '100', '--throughput', '-1', '--producer-props', `bootstrap.servers=${bootstrap}`, 'enable.idempotence=true', 'linger.ms=5'];
  if (transactionMs !== undefined) args.push('--transactional-id', `bench-perf-${Date.now()}`, '--transaction-duration-ms', String(transactionMs));
  const out = await tool('org.apache.kafka.tools.ProducerPerformance', args);
  const summary = out.trim().split('\n').reverse().find((line) => line.includes('records sent'));
  const rate = /([\d.]+) records\/sec/.exec(summary ?? '')?.[1];
  if (rate === undefined) throw new Error(`ProducerPerformance printed no summary:\n${out.slice(-2000)}`);
  return Number(rate);
}

/** Messages per second of ConsumerPerformance reading `records` records of `topic`. */
export async function consumerPerf(bootstrap: string, topic: string, records: number): Promise<number> {
  const out = await tool('org.apache.kafka.tools.ConsumerPerformance', ['--bootstrap-server', bootstrap, '--topic', topic, '--messages', String(records), '--timeout', '60000']);
  const lines = out.trim().split('\n');
  const header = lines.findIndex((line) => line.includes('nMsg.sec'));
  if (header < 0 || lines[header + 1] === undefined) throw new Error(`ConsumerPerformance printed no figures:\n${out.slice(-2000)}`);
  const names = lines[header]!.split(',').map((s) => s.trim());
  const values = lines[header + 1]!.split(',').map((s) => s.trim());
  const at = names.indexOf('nMsg.sec');
  return Number(values[at]);
}
