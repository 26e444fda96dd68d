/**
 * The pause-aware processor, one SEMANTICS.md rule per test, through the synchronous test driver.
 * Each test fails if its rule breaks.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HEADERS } from '../../src/model/wire.ts';
import { PauseAwareProcessor } from '../../src/processor/pause-aware-processor.ts';
import type { BufferStore, Header, InputRecord, KeyStatus } from '../../src/runtime/ports.ts';
import { MemoryBufferStore } from '../../src/stores/memory-buffer-store.ts';
import { FlowTestDriver, type DriverRecord } from '../../src/testing/test-driver.ts';

const ids = (records: readonly DriverRecord[]) => records.map((r) => r.event?.id);
const of = (key: string, records: readonly DriverRecord[]) => ids(records.filter((r) => r.key === key));
const range = (prefix: string, from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `${prefix}${from + i}`);

describe('pause-aware processor', () => {
  it('rule 1: per key, the output is exactly the input in order, across pause, resume and drains in progress', () => {
    const driver = new FlowTestDriver({ drainSliceSize: 2, drainStepsPerInput: 0 });
    driver.setStatus('a', 'PAUSED');
    for (const id of range('a', 1, 5)) {
      driver.pipeEvent('a', { id });
      driver.pipeEvent('b', { id: id.replace('a', 'b') });
    }
    driver.setStatus('a', 'ACTIVE');
    driver.sendResume('a');
    for (const id of range('a', 6, 8)) driver.pipeEvent('a', { id });
    driver.advanceWallClock(1000);
    const out = driver.readOutput();
    assert.deepEqual(of('a', out), range('a', 1, 8));
    assert.deepEqual(of('b', out), range('b', 1, 5));
    assert.equal(out.length, 13, 'nothing duplicated');
  });

  it('rule 2: an event of a PAUSED key is buffered, not forwarded, and stays buffered while paused', () => {
    const driver = new FlowTestDriver();
    driver.setStatus('k', 'PAUSED');
    driver.pipeEvent('k', { id: 'e1' });
    driver.pipeEvent('k', { id: 'e2' });
    driver.pipeEvent('other', { id: 'o1' });
    driver.advanceWallClock(10_000);
    assert.deepEqual(ids(driver.readOutput()), ['o1']);
    assert.deepEqual(driver.bufferedEvents('k').map((e) => JSON.parse(e.value!.toString()).id), ['e1', 'e2']);
    assert.equal(driver.status('k'), 'PAUSED');
  });

  it('rule 3: a resume command drains at once, even while the table still shows PAUSED', () => {
    const driver = new FlowTestDriver();
    driver.setStatus('k', 'PAUSED');
    driver.pipeEvent('k', { id: 'e1' });
    driver.pipeEvent('k', { id: 'e2' });
    driver.sendResume('k');
    assert.deepEqual(ids(driver.readOutput()), ['e1', 'e2']);
    assert.equal(driver.bufferCount('k'), 0);
  });

  it('rule 3: a resume command\'s drain goes on after a restart, while the table still shows PAUSED', () => {
    const driver = new FlowTestDriver({ drainSliceSize: 2, drainStepsPerInput: 0 });
    driver.setStatus('k', 'PAUSED');
    for (const id of range('e', 1, 6)) driver.pipeEvent('k', { id });
    driver.sendResume('k'); // a command-only producer: no ACTIVE status is ever written
    assert.deepEqual(ids(driver.readOutput()), range('e', 1, 2), 'the first slice at once');
    driver.pipeEvent('k', { id: 'late' }); // after the command, key PAUSED: not the command's to drain
    driver.restart(); // kill -9: the drain in memory is gone, its mark is in the store
    driver.advanceWallClock(0);
    assert.deepEqual(ids(driver.readOutput()), range('e', 3, 6));
    assert.deepEqual(driver.bufferedEvents('k').map((e) => JSON.parse(e.value!.toString()).id), ['late']);
  });

  it('rule 3: a resume command written before a newer pause releases nothing when processed late (by timestamp)', () => {
    const driver = new FlowTestDriver({ startTime: 1000 });
    driver.setStatus('k', 'PAUSED');
    driver.pipeEvent('k', { id: 'e1' });
    driver.advanceWallClock(100);
    // The operator resumed at 1050 and paused again at 1100; the command is processed only now.
    driver.setStatus('k', 'PAUSED');
    driver.pipeEvent('k', { id: 'e2' });
    driver.sendResume('k', { timestamp: 1050 });
    driver.advanceWallClock(5000);
    assert.deepEqual(ids(driver.readOutput()), [], 'the newer pause holds every buffered event');
    assert.equal(driver.bufferCount('k'), 2);
    // A command written after that pause drains, oldest first.
    driver.sendResume('k');
    assert.deepEqual(ids(driver.readOutput()), ['e1', 'e2']);
  });

  it('rule 3: a resume command that names its ACTIVE write is outranked by a PAUSED written after it', () => {
    const driver = new FlowTestDriver();
    driver.setStatus('k', 'PAUSED'); // status offset 0
    driver.pipeEvent('k', { id: 'e1' });
    driver.setStatus('k', 'ACTIVE'); // offset 1: the resume's ACTIVE write
    driver.setStatus('k', 'PAUSED'); // offset 2: paused again before the command is processed
    driver.pipeEvent('k', { id: 'e2' });
    // Same timestamps everywhere (the driver's clock did not move): only the named offset decides.
    driver.sendResume('k', { headers: [{ key: HEADERS.statusOffset, value: Buffer.from('1') }] });
    driver.advanceWallClock(5000);
    assert.deepEqual(ids(driver.readOutput()), []);
    assert.equal(driver.bufferCount('k'), 2);
    // A command that names the latest write (or a table that lags behind it) drains.
    driver.sendResume('k', { headers: [{ key: HEADERS.statusOffset, value: Buffer.from('2') }] });
    assert.deepEqual(ids(driver.readOutput()), ['e1', 'e2']);
  });

  it('rule 3: an event of an ACTIVE key with a non-empty buffer drains the buffer first, then is forwarded', () => {
    const driver = new FlowTestDriver();
    driver.setStatus('k', 'PAUSED');
    driver.pipeEvent('k', { id: 'e1' });
    driver.pipeEvent('k', { id: 'e2' });
    driver.setStatus('k', 'ACTIVE'); // no command, no punctuation yet
    assert.deepEqual(driver.readOutput(), []);
    driver.pipeEvent('k', { id: 'e3' });
    assert.deepEqual(ids(driver.readOutput()), ['e1', 'e2', 'e3']);
  });

  it('rule 4: a key turned ACTIVE with no command and no event is drained by the next punctuation, also after a restart', () => {
    const driver = new FlowTestDriver({ punctuateIntervalMs: 1000 });
    driver.setStatus('k', 'PAUSED');
    driver.pipeEvent('k', { id: 'e1' });
    driver.setStatus('k', 'ACTIVE');
    driver.advanceWallClock(999);
    assert.deepEqual(driver.readOutput(), [], 'not before the punctuation');
    driver.advanceWallClock(1);
    assert.deepEqual(ids(driver.readOutput()), ['e1']);

    driver.setStatus('k', 'PAUSED');
    driver.pipeEvent('k', { id: 'e2' });
    driver.restart(); // the dirty set is gone with the process: it must be rebuilt from the store
    driver.setStatus('k', 'ACTIVE');
    driver.advanceWallClock(1000);
    assert.deepEqual(ids(driver.readOutput()), ['e2']);
  });

  it('rule 5: buffered events survive a crash: the buffer is restored from its changelog', () => {
    const driver = new FlowTestDriver();
    const headers: Header[] = [{ key: 'trace', value: Buffer.from('t-1') }];
    driver.setStatus('k', 'PAUSED');
    driver.pipeEvent('k', { id: 'e1', data: { n: 1 } }, { headers, timestamp: 42 });
    driver.pipeEvent('k', { id: 'e2' });
    const before = driver.bufferedEvents('k');
    driver.restart();
    assert.deepEqual(driver.bufferedEvents('k'), before);
    driver.sendResume('k');
    assert.deepEqual(ids(driver.readOutput()), ['e1', 'e2']);
  });

  it('rule 6: key, value bytes, headers and timestamp are kept, straight through and through the buffer', () => {
    const driver = new FlowTestDriver();
    const headers: Header[] = [
      { key: 'h', value: Buffer.from([0, 255]) },
      { key: 'h', value: Buffer.from('second') },
    ];
    const value = Buffer.from('{ "id": "x", "data": "caf\\u00e9 é" }  ');
    driver.pipeRaw('main', 'direct', value, { headers, timestamp: 1_600_000_000_000 });
    driver.setStatus('held', 'PAUSED');
    driver.pipeRaw('main', 'held', value, { headers, timestamp: 1_600_000_000_000 });
    driver.sendResume('held');
    const out = driver.readOutput();
    assert.equal(out.length, 2);
    for (const [record, key] of [[out[0]!, 'direct'], [out[1]!, 'held']] as const) {
      assert.equal(record.key, key);
      assert.ok(record.value !== null && record.value.equals(value), `${key}: value bytes`);
      assert.deepEqual(record.headers, headers, `${key}: headers`);
      assert.equal(record.timestamp, 1_600_000_000_000, `${key}: timestamp`);
    }
  });

  it('rule 7: a drain forwards one slice at a time, and new events of the draining key join the back of its buffer', () => {
    const driver = new FlowTestDriver({ drainSliceSize: 3, drainStepsPerInput: 0 });
    driver.setStatus('k', 'PAUSED');
    for (const id of range('e', 1, 10)) driver.pipeEvent('k', { id });
    driver.setStatus('k', 'ACTIVE');
    driver.sendResume('k');
    assert.deepEqual(ids(driver.readOutput()), range('e', 1, 3), 'one slice per call');
    for (const id of range('e', 11, 110)) driver.pipeEvent('k', { id });
    assert.deepEqual(ids(driver.readOutput()), [], 'new events of a key still draining join its back and forward nothing by themselves');
    assert.equal(driver.bufferCount('k'), 107);
    driver.advanceWallClock(0);
    assert.deepEqual(ids(driver.readOutput()), range('e', 4, 110));
  });

  it('rule 7: a mass resume drains one slice inline, not one per key: the rest waits for the drain steps', () => {
    // One poll batch holding the resume commands of many keys (a bulk resume) used to drain a
    // slice for every key before the batch was done: 500 keys x 1000 events all at once.
    const driver = new FlowTestDriver({ drainSliceSize: 2, drainStepsPerInput: 0 });
    const keys = ['k1', 'k2', 'k3'];
    for (const key of keys) driver.setStatus(key, 'PAUSED');
    for (const key of keys) for (const id of range(`${key}-`, 1, 3)) driver.pipeEvent(key, { id });
    for (const key of keys) driver.setStatus(key, 'ACTIVE');
    for (const key of keys) driver.sendResume(key);
    driver.pipeEvent('k3', { id: 'k3-4' }); // joins the back of k3's buffer, drained or not
    assert.equal(driver.readOutput().length, 2, 'one slice in all, however many commands the batch held');
    driver.advanceWallClock(1000);
    driver.advanceWallClock(1000);
    driver.advanceWallClock(1000);
    const out = driver.readOutput();
    for (const key of ['k2', 'k3']) assert.deepEqual(of(key, out), range(`${key}-`, 1, key === 'k3' ? 4 : 3));
    assert.deepEqual(of('k1', out), ['k1-3']);
  });

  it('rule 7: drains take turns, so a huge buffer does not hold back another key\'s stranded events', () => {
    const forwarded: string[] = [];
    const statuses = new Map<string, KeyStatus>([['big', 'PAUSED'], ['small', 'PAUSED']]);
    const processor = new PauseAwareProcessor({ drainSliceSize: 10, maxBufferPerKey: 0 });
    processor.init({
      partition: 0,
      buffer: new MemoryBufferStore(),
      status: (key) => ({ status: statuses.get(key) ?? 'ACTIVE', version: 1, position: 1, timestamp: 0 }),
      forward: (record) => forwarded.push(record.key!.toString()),
      deadLetter: () => assert.fail('nothing is dead-lettered'),
      report: () => undefined,
    });
    let offset = 0;
    const event = (key: string): InputRecord => ({
      topic: 'in', partition: 0, offset: offset++, key: Buffer.from(key), value: Buffer.from(`{"id":"${offset}"}`), headers: [], timestamp: 0,
    });
    for (let i = 0; i < 1000; i++) processor.process(event('big'), 'event');
    processor.process(event('small'), 'event');
    statuses.set('big', 'ACTIVE');
    statuses.set('small', 'ACTIVE');
    processor.punctuate(0);
    processor.drainStep(10);
    assert.ok(forwarded.includes('small'), `small drained within two slices, not after big's 100 (forwarded: ${forwarded.length})`);
  });

  it('rule 7: nothing is dropped because a buffer is large (the original dropped past 10,000 per key)', () => {
    const driver = new FlowTestDriver({ drainSliceSize: 1000 });
    driver.setStatus('k', 'PAUSED');
    for (let i = 0; i < 12_000; i++) driver.pipeEvent('k', { id: `e${i}` });
    assert.equal(driver.bufferCount('k'), 12_000);
    driver.sendResume('k');
    const out = driver.readOutput();
    assert.equal(out.length, 12_000);
    assert.equal(out[11_999]!.event?.id, 'e11999');
    assert.deepEqual(driver.readDeadLetters(), []);
  });

  it('rule 7: at a configured per-key capacity, further events go to the dead-letter topic as BUFFER_FULL, and only then', () => {
    const driver = new FlowTestDriver({ maxBufferPerKey: 2, drainSliceSize: 1, drainStepsPerInput: 0 });
    driver.setStatus('k', 'PAUSED');
    driver.pipeEvent('k', { id: 'e1' });
    driver.sendResume('k'); // drains e1 in one full slice, with the table still PAUSED
    driver.pipeEvent('k', { id: 'e2' });
    driver.pipeEvent('k', { id: 'e3' });
    driver.pipeEvent('k', { id: 'e4' });
    assert.equal(driver.bufferCount('k'), 2);
    const dead = driver.readDeadLetters();
    assert.deepEqual(ids(dead), ['e4']);
    assert.equal(dead[0]!.reason, 'BUFFER_FULL');
    assert.deepEqual(ids(driver.readOutput()), ['e1']);
  });

  it('rule 7: BUFFER_FULL counts what the store holds, not how often a replayed record was buffered', () => {
    const dead: string[] = [];
    const buffer = new MemoryBufferStore();
    // Restored from a changelog that ran ahead of the committed input offsets (at_least_once):
    // the record at offset 5 is buffered already and is about to be replayed.
    buffer.append({ seq: 5, key: 'k', value: Buffer.from('{"id":"e5"}'), headers: [], timestamp: 0 });
    const processor = new PauseAwareProcessor({ drainSliceSize: 10, maxBufferPerKey: 2 });
    processor.init({
      partition: 0,
      buffer,
      status: () => ({ status: 'PAUSED', version: 1, position: 1, timestamp: 0 }),
      forward: () => assert.fail('nothing is forwarded while paused'),
      deadLetter: (record) => dead.push(record.value!.toString()),
      report: () => undefined,
    });
    const replay = (offset: number): InputRecord => ({
      topic: 'in', partition: 0, offset, key: Buffer.from('k'), value: Buffer.from(`{"id":"e${offset}"}`), headers: [], timestamp: 0,
    });
    processor.process(replay(5), 'event');
    processor.process(replay(6), 'event');
    assert.deepEqual(dead, [], 'two distinct events fit a capacity of 2');
    assert.equal(buffer.count('k'), 2);
    processor.process(replay(7), 'event');
    assert.deepEqual(dead, ['{"id":"e7"}']);
  });

  it('rule 7: events of an ACTIVE key still draining are never turned away as BUFFER_FULL', () => {
    const driver = new FlowTestDriver({ maxBufferPerKey: 10, drainSliceSize: 2, drainStepsPerInput: 0 });
    driver.setStatus('k', 'PAUSED');
    for (const id of range('e', 1, 10)) driver.pipeEvent('k', { id });
    driver.setStatus('k', 'ACTIVE');
    for (const id of range('e', 11, 16)) driver.pipeEvent('k', { id });
    driver.advanceWallClock(0);
    assert.deepEqual(ids(driver.readDeadLetters()), []);
    assert.deepEqual(ids(driver.readOutput()), range('e', 1, 16));
  });

  it('rule 7: a full key is counted in its store once, not once per event turned away', () => {
    const store = new MemoryBufferStore();
    let counts = 0;
    const buffer: BufferStore = {
      append: (event) => store.append(event),
      read: (key, limit) => store.read(key, limit),
      remove: (key, seqs) => store.remove(key, seqs),
      keys: () => store.keys(),
      count: (key) => (counts++, store.count(key)),
      setDrainMark: (key, mark) => store.setDrainMark(key, mark),
      drainMarks: () => store.drainMarks(),
    };
    const processor = new PauseAwareProcessor({ drainSliceSize: 10, maxBufferPerKey: 3 });
    processor.init({
      partition: 0,
      buffer,
      status: () => ({ status: 'PAUSED', version: 1, position: 1, timestamp: 0 }),
      forward: () => assert.fail('nothing is forwarded while paused'),
      deadLetter: () => undefined,
      report: () => undefined,
    });
    counts = 0;
    for (let offset = 0; offset < 1000; offset++) {
      processor.process({ topic: 'in', partition: 0, offset, key: Buffer.from('k'), value: Buffer.from(`{"id":"e${offset}"}`), headers: [], timestamp: 0 }, 'event');
    }
    assert.equal(store.count('k'), 3);
    assert.ok(counts <= 1, `the store was counted ${counts} times`);
  });

  it('rule 8: bad records go to the dead-letter topic with reason and source; the processor carries on', () => {
    const driver = new FlowTestDriver();
    driver.pipeRaw('main', null, '{"id":"no-key"}');
    driver.pipeRaw('main', 'k', 'not json');
    driver.pipeRaw('trigger', 'k', '{"action":"STOP"}');
    driver.pipeEvent('k', { id: 'good' });
    const dead = driver.readDeadLetters();
    assert.deepEqual(
      dead.map((d) => [d.reason, d.source.topic, d.source.partition, d.source.offset]),
      [
        ['MISSING_KEY', driver.flow.topics.main, 0, 0],
        ['INVALID_EVENT', driver.flow.topics.main, 0, 1],
        ['INVALID_COMMAND', driver.flow.topics.trigger, 0, 0],
      ],
    );
    assert.ok(dead.every((d) => d.message.length > 0 && d.headers.some((h) => h.key === HEADERS.dlqMessage)));
    assert.equal(dead[1]!.value?.toString(), 'not json', 'the original value is kept');
    assert.deepEqual(ids(driver.readOutput()), ['good']);
  });

  it('rule 10: with a lagging status table, a pause takes effect where the table shows it, and a resume command sent early is safe', () => {
    const driver = new FlowTestDriver({ statusLagMs: 100 });
    driver.setStatus('k', 'PAUSED');
    driver.pipeEvent('k', { id: 'e1' }); // the table does not show PAUSED yet
    driver.advanceWallClock(100);
    driver.pipeEvent('k', { id: 'e2' });
    driver.setStatus('k', 'ACTIVE');
    driver.sendResume('k'); // processed while the table still shows PAUSED: drains e2
    driver.pipeEvent('k', { id: 'e3' }); // still looks paused: buffered again
    assert.deepEqual(ids(driver.readOutput()), ['e1', 'e2']);
    assert.equal(driver.bufferCount('k'), 1);
    driver.advanceWallClock(1000); // the table catches up, the punctuator drains
    assert.deepEqual(ids(driver.readOutput()), ['e3']);
  });
});
