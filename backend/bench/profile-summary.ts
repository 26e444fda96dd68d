/**
 * The top self-time functions of a V8 CPU profile (`node --cpu-prof`, or pipeline-bench.ts
 * --cpu-prof-dir): where the samples landed, per function (name, file, line), with the share of
 * all samples, and per file. Self time only: what a function did itself, not what it called.
 *
 *   node backend/bench/profile-summary.ts FILE.cpuprofile [--top N] [--files]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
  readonly columnNumber: number;
}
interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly hitCount?: number;
  readonly children?: readonly number[];
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
}

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    top: { type: 'string', default: '30' },
    files: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help || positionals.length === 0) {
  console.log('usage: node backend/bench/profile-summary.ts FILE.cpuprofile... [--top N=30] [--files]');
  console.log('  prints the functions with the most self time (share of all samples), then with --files the same per file');
  process.exit(args.help ? 0 : 2);
}
const top = Number(args.top);
if (!Number.isSafeInteger(top) || top < 1) {
  console.error(`--top needs a positive integer, got ${args.top}`);
  process.exit(2);
}

const ROOT = path.resolve(import.meta.dirname, '../..');

function where(frame: CallFrame): string {
  if (frame.url === '') return '';
  let file = frame.url.startsWith('file://') ? new URL(frame.url).pathname : frame.url;
  if (file.startsWith(ROOT + path.sep)) file = path.relative(ROOT, file);
  else if (file.includes('/node_modules/')) file = file.slice(file.lastIndexOf('/node_modules/') + 1);
  return `${file}:${frame.lineNumber + 1}`;
}

function summarize(file: string): void {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  // Self time per node: the time deltas of its samples when present, else hit counts x interval.
  const selfMicros = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  if (samples.length > 0 && deltas.length === samples.length) {
    // A sample's time is the delta to the next sample (the profiler's own convention).
    for (let i = 0; i < samples.length; i++) {
      const next = deltas[i + 1] ?? 0;
      selfMicros.set(samples[i]!, (selfMicros.get(samples[i]!) ?? 0) + Math.max(0, next));
    }
  } else {
    const hits = profile.nodes.reduce((sum, node) => sum + (node.hitCount ?? 0), 0);
    const interval = hits > 0 ? (profile.endTime - profile.startTime) / hits : 0;
    for (const node of profile.nodes) selfMicros.set(node.id, (node.hitCount ?? 0) * interval);
  }
  const byFunction = new Map<string, { name: string; where: string; micros: number }>();
  const byFile = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const node of profile.nodes) {
    const micros = selfMicros.get(node.id) ?? 0;
    if (micros === 0) continue;
    total += micros;
    const name = node.callFrame.functionName || '(anonymous)';
    if (name === '(idle)') idle += micros;
    const at = where(node.callFrame);
    const key = `${name}\u0000${at}`;
    const entry = byFunction.get(key) ?? { name, where: at, micros: 0 };
    entry.micros += micros;
    byFunction.set(key, entry);
    const fileKey = at === '' ? name : at.slice(0, at.lastIndexOf(':'));
    byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + micros);
  }
  const busy = total - idle;
  const pct = (micros: number, of: number): string => `${((100 * micros) / Math.max(of, 1)).toFixed(1).padStart(5)}%`;
  console.log(`\n${file}`);
  console.log(`${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s not idle (main thread only; librdkafka's threads are not in a V8 profile)`);
  console.log(`\n  self    of busy   function (file:line)`);
  const functions = [...byFunction.values()].filter((f) => f.name !== '(idle)').sort((a, b) => b.micros - a.micros);
  for (const f of functions.slice(0, top)) {
    console.log(`  ${(f.micros / 1000).toFixed(0).padStart(6)} ms ${pct(f.micros, busy)}   ${f.name}${f.where === '' ? '' : `  ${f.where}`}`);
  }
  if (args.files) {
    console.log(`\n  self    of busy   file`);
    const files = [...byFile.entries()].filter(([name]) => name !== '(idle)').sort((a, b) => b[1] - a[1]);
    for (const [name, micros] of files.slice(0, top)) console.log(`  ${(micros / 1000).toFixed(0).padStart(6)} ms ${pct(micros, busy)}   ${name}`);
  }
}

for (const file of positionals) summarize(file);
