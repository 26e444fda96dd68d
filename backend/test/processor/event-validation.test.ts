/**
 * Rule 8 on the pass-through path: `eventError` (a byte scanner, no JSON.parse for valid events)
 * gives the verdict and the message of the parse-based `decodeEvent` on every input: edge cases
 * of JSON and of the event shape, and random ones (mutations of valid events, random bytes).
 * `isPlainValidEvent` is checked on its own too: it must never accept what `decodeEvent` refuses,
 * and it must accept ordinary events (else the fast path would silently be the slow one).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeEvent, encodeEvent, eventError, isPlainValidEvent } from '../../src/model/wire.ts';
import { Prng } from '../simulation/prng.ts';

function expected(value: Buffer | null): string | undefined {
  const decoded = decodeEvent(value);
  return decoded.ok ? undefined : decoded.error;
}

function check(value: Buffer | null, label: string): void {
  assert.equal(eventError(value), expected(value), `${label}: ${value === null ? 'null' : JSON.stringify(value.toString('latin1'))}`);
  if (value !== null && isPlainValidEvent(value)) assert.ok(decodeEvent(value).ok, `scanner accepted an invalid event: ${label}`);
}

const bytes = (text: string): Buffer => Buffer.from(text, 'utf8');

const VALID = [
  '{"id":"e1","data":{"amount":12.5,"currency":"EUR"},"timestamp":1700000000000}',
  '{"id":"e1"}',
  '{"id":"e1","data":null}',
  '{"id":"e1","timestamp":null}',
  '{"id":"e1","timestamp":-0}',
  '{"id":"e1","timestamp":1e400}',
  '{"id":"e1","timestamp":-1.5E-7}',
  '{"id":"e1","timestamp":123456789012345678901234567890}',
  ' \t\r\n{ \t"id" \n: \r"x" , "data" : [ 1 , { } , [ ] , "" , true , false , null ] } \n',
  '{"data":[[[[[[[[[[{"a":{"b":[{}]}}]]]]]]]]]],"id":"deep"}',
  '{"id":"\\u00e9\\"\\\\\\/\\b\\f\\n\\r\\t"}',
  '{"id":"\\ud800"}',
  '{"id":"é😀 ünïcödé"}',
  '{"id":"x","id":"y"}',
  '{"id":5,"id":"y"}',
  '{"id":"x","timestamp":"late","timestamp":7}',
  '{"__proto__":{"id":""},"id":"p"}',
  '{"constructor":1,"toString":2,"id":"q"}',
  '{"\\u0069d":"escaped key"}',
  '{"i\\u0064":"escaped key"}',
  '{"ID":"upper","id":"lower"}',
  '{"id":"x","data":"\\u0000 control, escaped"}',
  '{"id":"x","data":0}',
  '{"id":"x","data":-0.0e+0}',
  '{"id":"x","data":{"":""}}',
];

const INVALID = [
  '',
  ' ',
  'null',
  'true',
  '"string"',
  '42',
  '[]',
  '[{"id":"x"}]',
  '{}',
  '{"id":""}',
  '{"id":null}',
  '{"id":1}',
  '{"id":["x"]}',
  '{"id":{"x":1}}',
  '{"id":"x","id":""}',
  '{"id":"x","timestamp":"1700000000000"}',
  '{"id":"x","timestamp":true}',
  '{"id":"x","timestamp":{}}',
  '{"id":"x","timestamp":[1]}',
  '{"\\u0069d":""}',
  '{"id":"x","ti\\u006destamp":"escaped key, a string"}',
  '{"id":"x",}',
  '{"id":"x" "data":1}',
  '{"id":"x"',
  '{"id":"x}',
  '{"id":"x"}}',
  '{"id":"x"}x',
  '{"id":"x"},',
  '{"id":"x"} {"id":"y"}',
  '{"id":"x","data":[1,]}',
  '{"id":"x","data":[,1]}',
  '{"id":"x","data":[1 2]}',
  '{"id":"x","data":{"a"}}',
  '{"id":"x","data":{"a":}}',
  '{"id":"x","data":{"a":1,}}',
  '{"id":"x","data":{1:1}}',
  "{'id':'x'}",
  '{id:"x"}',
  '{"id":"x","data":01}',
  '{"id":"x","data":1.}',
  '{"id":"x","data":.5}',
  '{"id":"x","data":+1}',
  '{"id":"x","data":1e}',
  '{"id":"x","data":1e+}',
  '{"id":"x","data":-}',
  '{"id":"x","data":--1}',
  '{"id":"x","data":0x10}',
  '{"id":"x","data":NaN}',
  '{"id":"x","data":Infinity}',
  '{"id":"x","data":tru}',
  '{"id":"x","data":nul}',
  '{"id":"x","data":True}',
  '{"id":"x","data":undefined}',
  '{"id":"x","data":"\\x41"}',
  '{"id":"x","data":"\\u12"}',
  '{"id":"x","data":"\\u12G4"}',
  '{"id":"x","data":"\\\'"}',
  '{"id":"x","data":"a\tb"}',
  '{"id":"x","data":"a\nb"}',
  '{"id":"x","data":"\u0000"}',
  '{"id":"x","data":"\u001f"}',
  '{"id":"x","data":[}',
  '{"id":"x","data":{]}',
  '{"id":"x","data":[[[[]]]}',
  '{"id":"x","data":[[[]]]]}',
  '{"id":"x"\u00a0}',
  '\u00a0{"id":"x"}',
  '\u2028{"id":"x"}',
  '\ufeff{"id":"x"}',
  '{"id":"x"}\u0000',
  '{"id":"x"}\f',
  '{"id":"x"}\v',
  '/* comment */{"id":"x"}',
];

describe('event validation without a parse (rule 8)', () => {
  it('agrees with decodeEvent on valid events, and takes ordinary ones on the fast path', () => {
    for (const text of VALID) {
      check(bytes(text), 'valid');
      assert.equal(eventError(bytes(text)), undefined, text);
    }
    for (const text of VALID.filter((t) => !t.includes('\\u0069d') && !t.includes('i\\u0064'))) {
      assert.ok(isPlainValidEvent(bytes(text)), `fast path refused ${text}`);
    }
    for (let i = 0; i < 100; i++) {
      const value = encodeEvent({ id: `evt-${i}`, data: { amount: i / 3, note: 'x'.repeat(i), nested: [i, { deep: null }] }, timestamp: Date.now() + i });
      assert.ok(isPlainValidEvent(value));
    }
  });

  it('agrees with decodeEvent on invalid input, message included', () => {
    check(null, 'null value');
    for (const text of INVALID) {
      check(bytes(text), 'invalid');
      assert.notEqual(eventError(bytes(text)), undefined, text);
    }
  });

  it('agrees on malformed UTF-8, BOM bytes, and bytes outside strings', () => {
    const cases: Buffer[] = [
      Buffer.from([0xef, 0xbb, 0xbf, ...bytes('{"id":"x"}')]),
      Buffer.concat([bytes('{"id":"'), Buffer.from([0xff, 0xfe]), bytes('"}')]),
      Buffer.concat([bytes('{"id":"'), Buffer.from([0xe2, 0x82]), bytes('"}')]), // truncated sequence before the quote
      Buffer.concat([bytes('{"id":"'), Buffer.from([0xc0, 0xaf]), bytes('"}')]), // overlong
      Buffer.concat([bytes('{"id":"'), Buffer.from([0xed, 0xa0, 0x80]), bytes('"}')]), // encoded surrogate
      Buffer.concat([bytes('{"id":"'), Buffer.from([0xf4, 0x90, 0x80, 0x80]), bytes('"}')]), // above U+10FFFF
      Buffer.concat([bytes('{"id":"x","data":"'), Buffer.from([0x80]), bytes('"}')]),
      Buffer.concat([bytes('{"id":"x"'), Buffer.from([0xc2, 0xa0]), bytes('}')]),
      Buffer.concat([bytes('{"id":"x"}'), Buffer.from([0xe2, 0x80, 0xa8])]),
      Buffer.concat([bytes('{"i'), Buffer.from([0xff]), bytes('d":"x"}')]),
      Buffer.concat([bytes('{"id":"x","data":'), Buffer.from([0xff]), bytes('}')]),
    ];
    for (const value of cases) check(value, 'bytes');
  });

  it('agrees on deep nesting and long values', () => {
    for (const depth of [1, 63, 64, 65, 1000, 100_000]) {
      check(bytes(`{"id":"x","data":${'['.repeat(depth)}${']'.repeat(depth)}}`), `arrays ${depth}`);
      check(bytes(`{"id":"x","data":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`), `objects ${depth}`);
      check(bytes(`{"id":"x","data":${'['.repeat(depth)}${']'.repeat(depth - 1)}}`), `unbalanced ${depth}`);
      check(bytes(`{"id":"x","data":${'[{"a":'.repeat(depth)}1${'}]'.repeat(depth)}}`), `mixed ${depth}`);
    }
    check(bytes(`{"id":"${'x'.repeat(1_000_000)}","data":${'9'.repeat(100_000)}}`), 'long');
  });

  it('agrees on every prefix of valid events (truncated records)', () => {
    for (const text of VALID) {
      const value = bytes(text);
      for (let end = 0; end <= value.length; end++) check(value.subarray(0, end), `prefix ${end} of ${text}`);
    }
  });

  it('agrees on random mutations of valid events and on random JSON-ish bytes', () => {
    const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
    const random = new Prng(seed);
    const below = (n: number): number => random.int(0, n - 1);
    const alphabet = bytes(' \t\n\r{}[]:,"\\/-+.0123456789eEabfnrtuidsmplx\u00e9');
    const pick = (): number => alphabet[below(alphabet.length)]!;
    const seeds = VALID.map(bytes);
    let accepted = 0;
    for (let round = 0; round < 30_000; round++) {
      let value: Buffer;
      if (round % 3 === 2) {
        value = Buffer.from(Array.from({ length: below(24) }, pick));
      } else {
        const base = Buffer.from(seeds[below(seeds.length)]!);
        const edits = 1 + below(3);
        const parts: number[] = [...base];
        for (let e = 0; e < edits; e++) {
          const at = below(parts.length + 1);
          switch (below(4)) {
            case 0:
              parts.splice(at, 1);
              break;
            case 1:
              parts.splice(at, 0, pick());
              break;
            case 2:
              if (at < parts.length) parts[at] = pick();
              break;
            default:
              parts.splice(at, 0, below(256));
          }
        }
        value = Buffer.from(parts);
      }
      check(value, `seed ${seed} round ${round}`);
      if (eventError(value) === undefined) {
        accepted++;
        // Without a backslash anywhere, no top-level key is escaped: a valid event is on the fast path.
        if (!value.includes(0x5c)) assert.ok(isPlainValidEvent(value), `fast path refused a valid event: seed ${seed} round ${round}`);
      }
    }
    assert.ok(accepted > 100, `the mutations must leave some events valid (${accepted}); seed ${seed}`);
  });
});
