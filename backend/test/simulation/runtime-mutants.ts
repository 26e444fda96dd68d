/**
 * Planted bugs in the production runtime (FlowMember), for the fault simulation to catch. Each is
 * a small edit of the real source, made in a copy in the OS temp folder whose relative imports
 * point back at the real files: production code carries no switch for them, and an edit whose
 * text no longer matches the source fails loudly instead of planting nothing.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ProcessingGuarantee } from '../../src/config/config.ts';
import type { FlowMember } from '../../src/engines/stream/flow-member.ts';

const STREAM = fileURLToPath(new URL('../../src/engines/stream/', import.meta.url));

export interface RuntimeBug {
  /** What goes wrong, in a user's words. */
  readonly what: string;
  /** The guarantee whose code path holds the bug. */
  readonly guarantee: ProcessingGuarantee;
  /** The file of engines/stream/ that holds it (default flow-member.ts). */
  readonly file?: 'flow-member.ts' | 'flow-tasks.ts' | 'guarantees.ts';
  /** Text of the file and what it becomes (each edit must match exactly once). */
  readonly edits: ReadonlyArray<readonly [find: string, replace: string]>;
}

export const RUNTIME_BUGS = {
  'skip-trim': {
    what: 'a restored task keeps the buffered entries ahead of the committed input offsets (no trimAhead)',
    guarantee: 'at_least_once',
    file: 'flow-tasks.ts',
    edits: [['const trimmed = trimAhead(logged, committedOffset);', 'const trimmed = 0;']],
  },
  'tombstone-before-output': {
    what: "under at_least_once a drain's changelog tombstone is sent at once, before its output is delivered",
    guarantee: 'at_least_once',
    file: 'guarantees.ts',
    edits: [['holds: (entryKey, entryValue, trimming) => !trimming && (entryValue === null || isMarkKey(entryKey)),', 'holds: () => false,']],
  },
  'offsets-outside-transaction': {
    what: "under exactly_once the input offsets are committed on their own, not with the transaction's output",
    guarantee: 'exactly_once',
    file: 'guarantees.ts',
    edits: [['if (offsets.length > 0) await producer.sendOffsets(offsets, consumer);', 'if (offsets.length > 0) await consumer.commit(offsets);']],
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
  'checkpoint-end-unproven': {
    what: 'a member frozen while it waits for the changelog end offsets records them as its commit checkpoint (a later restore skips the next owner\'s records)',
    guarantee: 'exactly_once',
    edits: [['    if (!this.#ownershipProven()) return;\n    for (const end of ends)', '    for (const end of ends)']],
  },
} as const satisfies Record<string, RuntimeBug>;

export type RuntimeBugName = keyof typeof RUNTIME_BUGS;

/**
 * The FlowMember class with `bug` planted: engines/stream/ is copied to a temp folder with the
 * edit made, its imports within the folder kept (the copies use each other, the planted file
 * included) and every other import pointing back at the real modules.
 */
export async function mutantFlowMember(bug: RuntimeBugName): Promise<typeof FlowMember> {
  const spec: RuntimeBug = RUNTIME_BUGS[bug];
  const file = spec.file ?? 'flow-member.ts';
  let source = readFileSync(path.join(STREAM, file), 'utf8');
  for (const [find, replace] of spec.edits) {
    const at = source.indexOf(find);
    if (at < 0 || source.indexOf(find, at + 1) >= 0) throw new Error(`planted bug ${bug}: the text to edit is not in ${file} exactly once: ${find}`);
    source = source.slice(0, at) + replace + source.slice(at + find.length);
  }
  const folder = mkdtempSync(path.join(tmpdir(), `ep-mutant-${bug}-`));
  for (const name of readdirSync(STREAM).filter((n) => n.endsWith('.ts'))) {
    const text = name === file ? source : readFileSync(path.join(STREAM, name), 'utf8');
    const pointed = text.replace(/(from\s+|import\s*\(\s*)'(\.\.\/[^']+)'/g, (_: string, lead: string, spec: string) => `${lead}'${pathToFileURL(path.resolve(STREAM, spec)).href}'`);
    writeFileSync(path.join(folder, name), pointed);
  }
  try {
    const module = (await import(pathToFileURL(path.join(folder, 'flow-member.ts')).href)) as { FlowMember: typeof FlowMember };
    return module.FlowMember;
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}
