/**
 * The embedded engine runs the processor it is given, as the Kafka engine does (engine.test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EmbeddedEngine } from '../../src/engines/embedded/embedded-engine.ts';
import type { ProcessorFactory } from '../../src/runtime/engine.ts';
import type { ProcessorContext } from '../../src/runtime/ports.ts';
import { FLOW, testSettings } from '../api/helper.ts';

test('the embedded engine runs the processor it is given', async () => {
  const made: string[] = [];
  const upper: ProcessorFactory = (flow, partition) => {
    made.push(`${flow.id}/${partition}`);
    let context: ProcessorContext;
    return {
      init: (ctx) => (context = ctx),
      process: (record) => context.forward({ ...record, value: Buffer.from(record.value!.toString().toUpperCase()) }),
      punctuate: () => undefined,
      drainStep: () => 0,
      close: () => undefined,
    };
  };
  const settings = testSettings();
  const engine = new EmbeddedEngine(settings, { persist: false, processor: upper });
  await engine.start();
  try {
    const flow = settings.flows.find((f) => f.id === FLOW)!;
    assert.ok(made.includes(`${FLOW}/0`), `a processor per task (made ${made.join(', ')})`);
    await engine.produce(flow.topics.main, { key: 'u', value: Buffer.from('{"id":"u-0","data":"x"}') });
    const deadline = Date.now() + 5000;
    while (!(await engine.recent(flow.topics.output, 5)).some((r) => r.value?.toString() === '{"ID":"U-0","DATA":"X"}')) {
      assert.ok(Date.now() < deadline, 'the upper-cased event reaches the output');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    await engine.stop();
  }
});
