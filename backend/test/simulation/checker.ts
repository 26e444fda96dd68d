/**
 * Checks what a schedule left on the output and dead-letter topics against what it sent
 * (SEMANTICS.md rules 1, 5, 6, 8; rule 2 and the timing rules are the observer's):
 *   rule 1 (and 5): per key, the output is exactly the events sent, in main-topic order, minus
 *     those dead-lettered as BUFFER_FULL; nothing lost across crashes; under exactly-once no
 *     duplicates, under at-least-once the first occurrences are in exact order;
 *   rule 6: each output record has the key, value bytes, headers and timestamp it was sent with;
 *   rule 8: each bad record is on the dead-letter topic with its reason and source coordinates.
 */
import type { ProcessingGuarantee } from '../../src/config/config.ts';
import type { LogRecord } from '../../src/engines/embedded/cluster.ts';
import { decodeEvent, headerValue, HEADERS } from '../../src/model/wire.ts';
import type { DeadLetterReason, Header } from '../../src/runtime/ports.ts';
import type { SentEvent } from './observer.ts';

/** A record the simulation sent that the processor must dead-letter. */
export interface SentBadRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly reason: DeadLetterReason;
}

export interface Outcome {
  readonly guarantee: ProcessingGuarantee;
  /** Valid events in the order they were sent. */
  readonly events: readonly SentEvent[];
  readonly bad: readonly SentBadRecord[];
  readonly output: readonly LogRecord[];
  readonly deadLetters: readonly LogRecord[];
}

export function checkOutcome(outcome: Outcome): string[] {
  const violations: string[] = [];
  const fail = (message: string) => {
    if (violations.length < 20) violations.push(message);
  };
  const exactlyOnce = outcome.guarantee === 'exactly_once';
  const byId = new Map(outcome.events.map((event) => [event.id, event]));

  // Dead letters: BUFFER_FULL for sent events, the rest for bad records.
  const bufferFull = new Set<string>();
  const badSeen = new Map<string, number>();
  for (const record of outcome.deadLetters) {
    const reason = headerValue(record.headers, HEADERS.dlqReason);
    const source = `${headerValue(record.headers, HEADERS.sourceTopic)}/${headerValue(record.headers, HEADERS.sourcePartition)}/${headerValue(record.headers, HEADERS.sourceOffset)}`;
    if (reason === 'BUFFER_FULL') {
      const decoded = decodeEvent(record.value);
      const id = decoded.ok ? decoded.value.id : '?';
      if (exactlyOnce && bufferFull.has(id)) fail(`rule 1: ${id} dead-lettered twice as BUFFER_FULL`);
      bufferFull.add(id);
    } else {
      badSeen.set(`${source}/${reason}`, (badSeen.get(`${source}/${reason}`) ?? 0) + 1);
    }
  }
  for (const bad of outcome.bad) {
    const id = `${bad.topic}/${bad.partition}/${bad.offset}/${bad.reason}`;
    const seen = badSeen.get(id) ?? 0;
    if (seen === 0) fail(`rule 8: bad record ${bad.topic}/${bad.partition}@${bad.offset} is not on the dead-letter topic as ${bad.reason}`);
    if (seen > 1 && exactlyOnce) fail(`rule 8: bad record ${bad.topic}/${bad.partition}@${bad.offset} dead-lettered ${seen} times under exactly-once`);
    badSeen.delete(id);
  }
  for (const [id] of badSeen) fail(`rule 8: unexpected dead letter ${id}`);

  // Output per key, in offset order.
  const outputByKey = new Map<string, string[]>();
  for (const record of [...outcome.output].sort((a, b) => a.partition - b.partition || a.offset - b.offset)) {
    const decoded = decodeEvent(record.value);
    const sent = decoded.ok ? byId.get(decoded.value.id) : undefined;
    if (sent === undefined) {
      fail(`output holds a record that was never sent: ${record.value?.toString('utf8')}`);
      continue;
    }
    checkFaithful(sent, record, fail);
    if (bufferFull.has(sent.id)) fail(`rule 7: ${sent.id} is on the output and dead-lettered as BUFFER_FULL`);
    let ids = outputByKey.get(sent.key);
    if (ids === undefined) outputByKey.set(sent.key, (ids = []));
    ids.push(sent.id);
  }

  const expectedByKey = new Map<string, string[]>();
  for (const event of outcome.events) {
    if (bufferFull.has(event.id)) continue;
    let ids = expectedByKey.get(event.key);
    if (ids === undefined) expectedByKey.set(event.key, (ids = []));
    ids.push(event.id);
  }
  for (const key of new Set([...expectedByKey.keys(), ...outputByKey.keys()])) {
    const expected = expectedByKey.get(key) ?? [];
    const raw = outputByKey.get(key) ?? [];
    const seen = exactlyOnce ? raw : [...new Set(raw)];
    if (exactlyOnce && new Set(raw).size !== raw.length) {
      fail(`rule 1: ${key} has duplicates on the output under exactly-once: ${describeDiff(expected, raw)}`);
      continue;
    }
    if (seen.length !== expected.length || seen.some((id, i) => id !== expected[i])) {
      fail(`rule 1: ${key} output is not the sent events in order: ${describeDiff(expected, seen)}`);
    }
  }
  return violations;
}

function checkFaithful(sent: SentEvent, record: LogRecord, fail: (message: string) => void): void {
  const problems: string[] = [];
  if (record.key?.toString('utf8') !== sent.key) problems.push('key');
  if (record.value === null || Buffer.compare(record.value, sent.value) !== 0) problems.push('value bytes');
  if (record.timestamp !== sent.timestamp) problems.push(`timestamp ${record.timestamp} != ${sent.timestamp}`);
  if (!sameHeaders(record.headers, sent.headers)) problems.push('headers');
  if (problems.length > 0) fail(`rule 6: ${sent.id} forwarded with a different ${problems.join(', ')}`);
}

function sameHeaders(a: readonly Header[], b: readonly Header[]): boolean {
  return a.length === b.length && a.every((h, i) => h.key === b[i]!.key && Buffer.compare(h.value, b[i]!.value) === 0);
}

function describeDiff(expected: readonly string[], actual: readonly string[]): string {
  let i = 0;
  while (i < expected.length && i < actual.length && expected[i] === actual[i]) i++;
  const around = (ids: readonly string[]) => ids.slice(Math.max(0, i - 2), i + 3).join(',');
  return `${expected.length} expected, ${actual.length} seen; first difference at #${i}: expected [${around(expected)}] seen [${around(actual)}]`;
}
