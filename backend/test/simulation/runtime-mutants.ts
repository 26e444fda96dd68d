/**
 * Planted bugs in the production runtime (FlowMember), for the fault simulation to catch. Each is
 * a small edit of the real source, made in a copy in the OS temp folder whose relative imports
 * point back at the real files: production code carries no switch for them, and an edit whose
 * text no longer matches the source fails loudly instead of planting nothing.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ProcessingGuarantee } from '../../src/config/config.ts';
import type { FlowMember } from '../../src/engines/stream/flow-member.ts';

const SOURCE = fileURLToPath(new URL('../../src/engines/stream/flow-member.ts', import.meta.url));

export interface RuntimeBug {
  /** What goes wrong, in a user's words. */
  readonly what: string;
  /** The guarantee whose code path holds the bug. */
  readonly guarantee: ProcessingGuarantee;
  /** Text of flow-member.ts and what it becomes (each edit must match exactly once). */
  readonly edits: ReadonlyArray<readonly [find: string, replace: string]>;
}

export const RUNTIME_BUGS = {
  'skip-trim': {
    what: 'a restored task keeps the buffered entries ahead of the committed input offsets (no trimAhead)',
    guarantee: 'at_least_once',
    edits: [['const trimmed = trimAhead(logged, committedOffset);', 'const trimmed = 0;']],
  },
  'tombstone-before-output': {
    what: "under at_least_once a drain's changelog tombstone is sent at once, before its output is delivered",
    guarantee: 'at_least_once',
    edits: [['const held = !this.#exactlyOnce && !trimming && (entryValue === null || isMarkKey(entryKey));', 'const held = false;']],
  },
  'offsets-outside-transaction': {
    what: "under exactly_once the input offsets are committed on their own, not with the transaction's output",
    guarantee: 'exactly_once',
    edits: [['if (offsets.length > 0) await this.#producer.sendOffsets(offsets, this.#consumer);', 'if (offsets.length > 0) await this.#consumer.commit(offsets);']],
  },
  'no-client-renewal': {
    what: 'a member restarting after a failure rejoins with the clients it had instead of new ones',
    guarantee: 'exactly_once',
    edits: [
      [
        '    await this.#closeClients();\n    if (this.#stopping) return;\n    await this.#connect();',
        '    if (this.#stopping) return;\n    this.#consumer.subscribe([this.flow.topics.main, this.flow.topics.trigger]);',
      ],
    ],
  },
} as const satisfies Record<string, RuntimeBug>;

export type RuntimeBugName = keyof typeof RUNTIME_BUGS;

/** The FlowMember class of flow-member.ts with `bug` planted. */
export async function mutantFlowMember(bug: RuntimeBugName): Promise<typeof FlowMember> {
  let source = readFileSync(SOURCE, 'utf8');
  for (const [find, replace] of RUNTIME_BUGS[bug].edits) {
    const at = source.indexOf(find);
    if (at < 0 || source.indexOf(find, at + 1) >= 0) throw new Error(`planted bug ${bug}: the text to edit is not in flow-member.ts exactly once: ${find}`);
    source = source.slice(0, at) + replace + source.slice(at + find.length);
  }
  // Relative imports of the copy lead back to the real modules.
  const dir = path.dirname(SOURCE);
  source = source.replace(/(from\s+|import\s*\(\s*)'(\.\.?\/[^']+)'/g, (_, lead: string, spec: string) => `${lead}'${pathToFileURL(path.resolve(dir, spec)).href}'`);
  const folder = mkdtempSync(path.join(tmpdir(), `ep-mutant-${bug}-`));
  const file = path.join(folder, 'flow-member.ts');
  writeFileSync(file, source);
  try {
    const module = (await import(pathToFileURL(file).href)) as { FlowMember: typeof FlowMember };
    return module.FlowMember;
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}
