/**
 * The log-client port's error model, and how the librdkafka adapter maps its errors onto it:
 * the runtime reacts to the port's kinds only (fatal: restart with new clients; abortable: abort
 * and rewind; retriable: try again), so the mapping decides recovery. No broker needed.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Kafka from '@confluentinc/kafka-javascript';
import { toLogError } from '../../src/engines/kafka/client.ts';
import { ClientClosedError, ClientTimeoutError, errorKind, isGenerationError, isQueueFull, isStaleMetadata, isUnknownTopic, LogClientError } from '../../src/runtime/log/errors.ts';

const ERR = Kafka.CODES.ERRORS;

function librdkafkaError(code: number, flags: { isFatal?: boolean; isRetriable?: boolean; isTxnRequiresAbort?: boolean } = {}): Error {
  return Object.assign(new Error(`librdkafka error ${code}`), { code, isFatal: false, isRetriable: false, isTxnRequiresAbort: false, ...flags });
}

describe('log-client errors', () => {
  const cases: Array<[string, Error, { code: string; kind: string; stale: boolean }]> = [
    ['producer fenced', librdkafkaError(ERR.ERR_PRODUCER_FENCED), { code: 'FENCED', kind: 'fatal', stale: false }],
    ['local fenced', librdkafkaError(ERR.ERR__FENCED), { code: 'FENCED', kind: 'fatal', stale: false }],
    ['a fatal error', librdkafkaError(ERR.ERR__FATAL, { isFatal: true }), { code: 'OTHER', kind: 'fatal', stale: false }],
    ['abort required', librdkafkaError(ERR.ERR__STATE, { isTxnRequiresAbort: true }), { code: 'TXN_ABORTABLE', kind: 'abortable', stale: false }],
    ['retriable', librdkafkaError(ERR.ERR_COORDINATOR_LOAD_IN_PROGRESS, { isRetriable: true }), { code: 'OTHER', kind: 'retriable', stale: false }],
    ['fenced leader epoch', librdkafkaError(ERR.ERR_FENCED_LEADER_EPOCH), { code: 'STALE_METADATA', kind: 'other', stale: true }],
    ['all brokers down', librdkafkaError(ERR.ERR__ALL_BROKERS_DOWN), { code: 'STALE_METADATA', kind: 'other', stale: true }],
    ['a client timeout, retriable', librdkafkaError(ERR.ERR__TIMED_OUT, { isRetriable: true }), { code: 'STALE_METADATA', kind: 'retriable', stale: true }],
    ['illegal generation, abort required', librdkafkaError(ERR.ERR_ILLEGAL_GENERATION, { isTxnRequiresAbort: true }), { code: 'GENERATION', kind: 'abortable', stale: false }],
    ['unknown member', librdkafkaError(ERR.ERR_UNKNOWN_MEMBER_ID), { code: 'GENERATION', kind: 'other', stale: false }],
    ['queue full', librdkafkaError(ERR.ERR__QUEUE_FULL), { code: 'QUEUE_FULL', kind: 'other', stale: false }],
    ['unknown topic', librdkafkaError(ERR.ERR_UNKNOWN_TOPIC_OR_PART), { code: 'UNKNOWN_TOPIC', kind: 'other', stale: false }],
  ];
  for (const [name, raw, expected] of cases) {
    test(`librdkafka: ${name} -> ${expected.code}, ${expected.kind}${expected.stale ? ', renew the client' : ''}`, () => {
      const mapped = toLogError(raw);
      assert.ok(mapped instanceof LogClientError);
      assert.equal(mapped.code, expected.code);
      assert.equal(mapped.kind, expected.kind);
      assert.equal(errorKind(mapped), expected.kind);
      assert.equal(isStaleMetadata(mapped), expected.stale);
      assert.equal(mapped.cause, raw, 'the client error stays as the cause');
      assert.equal(mapped.message, raw.message);
      assert.equal(isQueueFull(mapped), expected.code === 'QUEUE_FULL');
      assert.equal(isUnknownTopic(mapped), expected.code === 'UNKNOWN_TOPIC');
      assert.equal(isGenerationError(mapped), expected.code === 'GENERATION');
    });
  }

  test('what is not a client error passes through unchanged, and is of kind other', () => {
    const bug = new TypeError('a bug');
    assert.equal(toLogError(bug), bug);
    assert.equal(errorKind(bug), 'other');
    assert.equal(isStaleMetadata(bug), false);
    const already = new LogClientError('FENCED', 'fatal', 'fenced');
    assert.equal(toLogError(already), already);
  });

  test('a deadline passed or a closed client: fatal, and the client is renewed', () => {
    for (const error of [new ClientTimeoutError('commit did not complete'), new ClientClosedError('closed')]) {
      assert.equal(errorKind(error), 'fatal');
      assert.equal(isStaleMetadata(error), true);
      assert.ok(error instanceof LogClientError);
    }
    assert.equal(new ClientTimeoutError('x').code, 'TIMEOUT');
    assert.equal(new ClientClosedError('x').code, 'CLOSED');
  });
});
