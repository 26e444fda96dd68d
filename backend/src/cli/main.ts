/**
 * `event-pause <command>`: the service's command line. `start` and `init-topics` run the
 * repository's scripts; `migrate-from-original` talks to Kafka; every other command talks to a
 * running service over HTTP (--url or EVENT_PAUSE_URL, --token or API_TOKEN).
 *
 * Exit codes, for scripts: 0 done; 1 the request failed (service unreachable, 5xx); 2 usage or
 * bad input (an unknown command or option, a 400); 3 not found (an unknown flow, a 404); 4 the
 * token was refused (401/403); 5 a conflict (409: the state changed since it was read).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { settingsHelp } from '../config/settings-schema.ts';

export const EXIT = { ok: 0, failed: 1, usage: 2, notFound: 3, unauthorized: 4, conflict: 5 } as const;

const ROOT = path.resolve(import.meta.dirname, '../../..');
const DEFAULT_URL = 'http://127.0.0.1:8080';
/** Keys per pause/resume request (the API's bulk limit). */
const BULK = 1000;

class CliError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

type Out = { log: (line: string) => void; error: (line: string) => void };

interface Command {
  readonly summary: string;
  readonly usage: string;
  readonly options: NonNullable<ParseArgsConfig['options']>;
  readonly details?: string;
  run(args: { values: Record<string, unknown>; positionals: string[] }, io: Out): Promise<number>;
}

const HTTP_OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const READ_OPTIONS = { ...HTTP_OPTIONS, json: { type: 'boolean' } } as const;

const HTTP_HELP = `  --url URL      the service (default: EVENT_PAUSE_URL, else ${DEFAULT_URL})
  --token TOKEN  its API_TOKEN (default: API_TOKEN from the environment)
  -h, --help     this help`;

function client(values: Record<string, unknown>) {
  const base = String(values['url'] ?? process.env.EVENT_PAUSE_URL ?? DEFAULT_URL).replace(/\/+$/, '');
  const token = (values['token'] as string | undefined) ?? process.env.API_TOKEN;
  const call = async (method: 'GET' | 'POST', pathAndQuery: string, body?: unknown): Promise<unknown> => {
    const headers: Record<string, string> = {};
    if (token !== undefined && token !== '') headers['authorization'] = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(`${base}${pathAndQuery}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }), signal: AbortSignal.timeout(30_000) });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(EXIT.failed, `no answer from ${base} (${cause?.code ?? cause?.message ?? (error as Error).message}): is the service running? (--url, EVENT_PAUSE_URL)`);
    }
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    if (response.ok) return parsed;
    const message = typeof parsed === 'object' && parsed !== null && typeof (parsed as { message?: unknown }).message === 'string' ? (parsed as { message: string }).message : text;
    const code =
      response.status === 401 || response.status === 403
        ? EXIT.unauthorized
        : response.status === 404
          ? EXIT.notFound
          : response.status === 409
            ? EXIT.conflict
            : response.status >= 400 && response.status < 500
              ? EXIT.usage
              : EXIT.failed;
    const hint = code === EXIT.unauthorized ? ' (pass --token or set API_TOKEN)' : '';
    throw Object.assign(new CliError(code, `${method} ${pathAndQuery}: ${response.status} ${message}${hint}`), { body: parsed });
  };
  return { base, call };
}

const seg = encodeURIComponent;

function table(rows: ReadonlyArray<ReadonlyArray<string>>): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n');
}

const when = (ms: number | null | undefined): string => (ms === null || ms === undefined || ms < 0 ? '-' : new Date(ms).toISOString());

/** Keys from the arguments and --from-file (one per line; `-` reads standard input). */
function keysOf(positionals: string[], fromFile: unknown): string[] {
  const keys = [...positionals];
  if (typeof fromFile === 'string') {
    const text = fromFile === '-' ? readFileSync(0, 'utf8') : readFileSync(fromFile, 'utf8');
    for (const line of text.split(/\r?\n/)) if (line.trim() !== '') keys.push(line.trim());
  }
  return [...new Set(keys)];
}

function need(positionals: string[], count: number, what: string): void {
  if (positionals.length < count) throw new CliError(EXIT.usage, `missing ${what}`);
}

const action = (verb: 'pause' | 'resume'): Command => ({
  summary: verb === 'pause' ? 'pause keys: their new events are held, in order' : 'resume keys: their held events are released, in order, before newer ones',
  usage: `${verb} <flow> <key>... [--reason R] [--actor A] [--from-file F]`,
  options: { ...HTTP_OPTIONS, reason: { type: 'string' }, actor: { type: 'string' }, 'from-file': { type: 'string' }, json: { type: 'boolean' } },
  details: `  --reason R        why (recorded in the key's history)
  --actor A         who (default: the service's default, "api")
  --from-file F     keys one per line (- reads standard input), besides those given`,
  async run({ values, positionals }, io) {
    need(positionals, 1, 'the flow');
    const [flow, ...rest] = positionals;
    const keys = keysOf(rest, values['from-file']);
    if (keys.length === 0) throw new CliError(EXIT.usage, 'no key given (as arguments or --from-file)');
    const { call } = client(values);
    let done = 0;
    for (let i = 0; i < keys.length; i += BULK) {
      const chunk = keys.slice(i, i + BULK);
      const body: Record<string, unknown> = { keys: chunk };
      if (typeof values['reason'] === 'string') body['reason'] = values['reason'];
      if (typeof values['actor'] === 'string') body['actor'] = values['actor'];
      await call('POST', `/api/v1/flows/${seg(flow!)}/${verb}`, body);
      done += chunk.length;
      if (keys.length > BULK) io.error(`${done} of ${keys.length} keys ${verb}d`);
    }
    if (values['json'] === true) io.log(JSON.stringify({ flow, action: verb, keys: keys.length }));
    else io.log(`${verb === 'pause' ? 'paused' : 'resumed'} ${keys.length} ${keys.length === 1 ? 'key' : 'keys'} of ${flow}${verb === 'pause' ? ' (takes effect as each instance sees it)' : ''}`);
    return EXIT.ok;
  },
});

const COMMANDS: Record<string, Command> = {
  start: {
    summary: 'start the service (KAFKA_BROKERS set: on Kafka; else the embedded engine), as npm start',
    usage: 'start',
    options: { help: { type: 'boolean', short: 'h' } },
    details: `settings come from the environment (written from backend/src/config/settings-schema.ts, as in npm start -- --help):\n\n${settingsHelp()}`,
    async run() {
      return spawnSync('bash', [path.join(ROOT, 'scripts/start.sh')], { stdio: 'inherit' }).status ?? EXIT.failed;
    },
  },
  'init-topics': {
    summary: 'create the flows\' topics on Kafka (KAFKA_BROKERS), as scripts/init_topics.sh',
    usage: 'init-topics',
    options: { help: { type: 'boolean', short: 'h' } },
    async run() {
      return spawnSync('bash', [path.join(ROOT, 'scripts/init_topics.sh')], { stdio: 'inherit' }).status ?? EXIT.failed;
    },
  },
  pause: action('pause'),
  resume: action('resume'),
  status: {
    summary: 'a key\'s status, who set it and why, and how many events it holds',
    usage: 'status <flow> <key> [--json]',
    options: READ_OPTIONS,
    async run({ values, positionals }, io) {
      need(positionals, 2, 'the flow and the key');
      const [flow, key] = positionals;
      const answer = (await client(values).call('GET', `/api/v1/flows/${seg(flow!)}/keys/${seg(key!)}`)) as {
        status: string;
        reason: string | null;
        actor: string | null;
        statusChangedAt: number | null;
        bufferedCount: number;
        oldestBufferedTimestamp: number | null;
        partition: number;
      };
      if (values['json'] === true) io.log(JSON.stringify(answer));
      else {
        io.log(
          table([
            ['key', key!],
            ['status', answer.status],
            ['since', when(answer.statusChangedAt)],
            ['by', answer.actor ?? '-'],
            ['reason', answer.reason ?? '-'],
            ['buffered', String(answer.bufferedCount)],
            ['oldest buffered', when(answer.oldestBufferedTimestamp)],
            ['partition', String(answer.partition)],
          ]),
        );
      }
      return EXIT.ok;
    },
  },
  list: {
    summary: 'keys that are paused or hold events (all of them, or --limit), with counts',
    usage: 'list <flow> [--paused|--buffered] [--prefix P] [--sort key|oldest|most|paused-longest] [--limit N] [--json]',
    options: { ...READ_OPTIONS, paused: { type: 'boolean' }, buffered: { type: 'boolean' }, prefix: { type: 'string' }, sort: { type: 'string' }, limit: { type: 'string' } },
    details: `  --paused / --buffered   only paused keys / only keys holding events (default: both)
  --prefix P              keys starting with P
  --sort S                key (default), oldest (oldest held event first), most, paused-longest
  --limit N               at most N keys (default: all)`,
    async run({ values, positionals }, io) {
      need(positionals, 1, 'the flow');
      const [flow] = positionals;
      if (values['paused'] === true && values['buffered'] === true) throw new CliError(EXIT.usage, '--paused and --buffered exclude each other');
      const state = values['paused'] === true ? 'paused' : values['buffered'] === true ? 'buffered' : 'all';
      const max = values['limit'] === undefined ? Infinity : Number(values['limit']);
      if (!(max >= 1 && Number.isInteger(max)) && max !== Infinity) throw new CliError(EXIT.usage, `--limit expects a positive integer, got "${String(values['limit'])}"`);
      const { call } = client(values);
      type Hit = { key: string; status: string; bufferedCount: number; oldestBufferedTimestamp: number | null; pausedSince: number | null; partition: number };
      const items: Hit[] = [];
      let total = 0;
      let incomplete = false;
      for (let offset = 0; items.length < max; ) {
        const query = new URLSearchParams({ state, prefix: String(values['prefix'] ?? ''), sort: String(values['sort'] ?? 'key'), offset: String(offset), limit: String(Math.min(1000, max - items.length)) });
        const page = (await call('GET', `/api/v1/flows/${seg(flow!)}/key-search?${query}`)) as { total: number; items: Hit[]; incomplete: boolean };
        total = page.total;
        incomplete ||= page.incomplete;
        items.push(...page.items);
        offset += page.items.length;
        if (page.items.length === 0 || offset >= page.total) break;
      }
      if (values['json'] === true) io.log(JSON.stringify({ flow, total, incomplete, items }));
      else {
        if (items.length > 0) {
          io.log(table([['KEY', 'STATUS', 'BUFFERED', 'OLDEST BUFFERED', 'PAUSED SINCE'], ...items.map((i) => [i.key, i.status, String(i.bufferedCount), when(i.oldestBufferedTimestamp), when(i.pausedSince)])]));
        }
        io.error(`${items.length} of ${total} ${total === 1 ? 'key' : 'keys'}${incomplete ? ' (incomplete: some partitions could not be searched)' : ''}`);
      }
      return EXIT.ok;
    },
  },
  buffer: {
    summary: 'the events a key holds, oldest first (the order they will be released in)',
    usage: 'buffer <flow> <key> [--limit N] [--json]',
    options: { ...READ_OPTIONS, limit: { type: 'string' } },
    details: '  --limit N      at most N events (default 100, at most 1000)',
    async run({ values, positionals }, io) {
      need(positionals, 2, 'the flow and the key');
      const [flow, key] = positionals;
      const limit = String(values['limit'] ?? '100');
      const page = (await client(values).call('GET', `/api/v1/flows/${seg(flow!)}/keys/${seg(key!)}/buffer?limit=${seg(limit)}`)) as {
        total: number;
        items: Array<{ seq: number; id: string | null; data: unknown; timestamp: number | null }>;
      };
      if (values['json'] === true) io.log(JSON.stringify(page));
      else {
        if (page.items.length > 0) io.log(table([['OFFSET', 'ID', 'TIME', 'DATA'], ...page.items.map((e) => [String(e.seq), e.id ?? '-', when(e.timestamp), JSON.stringify(e.data)])]));
        io.error(`${page.items.length} of ${page.total} held ${page.total === 1 ? 'event' : 'events'}`);
      }
      return EXIT.ok;
    },
  },
  skip: {
    summary: 'handler mode: send a parked key\'s first held event to the dead-letter topic (SKIPPED) and resume the rest',
    usage: 'skip <flow> <key> (--seq N | --first) [--reason R] [--actor A] [--json]',
    options: { ...READ_OPTIONS, seq: { type: 'string' }, first: { type: 'boolean' }, reason: { type: 'string' }, actor: { type: 'string' } },
    details: `  --seq N        the seq of the key's first held event, as \`buffer\` lists it (OFFSET): the skip
                 acts only if that event is still first, so it never drops one you did not see
  --first        whatever event is first now (read from the buffer, printed, then skipped)
  --reason R     why (recorded in the key's history and on the dead letter)
  --actor A      who (default: the service's default, "api")`,
    async run({ values, positionals }, io) {
      need(positionals, 2, 'the flow and the key');
      const [flow, key] = positionals;
      const { call } = client(values);
      if ((values['seq'] === undefined) === (values['first'] !== true)) throw new CliError(EXIT.usage, 'give --seq N (the first held event\'s OFFSET, from `event-pause buffer`) or --first');
      let seq: number;
      if (values['seq'] !== undefined) {
        seq = Number(values['seq']);
        if (!(Number.isSafeInteger(seq) && seq >= 0) || !/^\d+$/.test(String(values['seq']))) throw new CliError(EXIT.usage, `--seq expects a non-negative integer, got "${String(values['seq'])}"`);
      } else {
        const head = (await call('GET', `/api/v1/flows/${seg(flow!)}/keys/${seg(key!)}/buffer?limit=1`)) as { total: number; items: Array<{ seq: number; data: unknown }> };
        const first = head.items[0];
        if (first === undefined) throw new CliError(EXIT.notFound, `${key} of ${flow} holds no event: nothing to skip`);
        seq = first.seq;
        if (values['json'] !== true) io.error(`first held event of ${key}: offset ${seq}, data ${JSON.stringify(first.data)}`);
      }
      const body: Record<string, unknown> = { seq };
      if (typeof values['reason'] === 'string') body['reason'] = values['reason'];
      if (typeof values['actor'] === 'string') body['actor'] = values['actor'];
      const answer = await call('POST', `/api/v1/flows/${seg(flow!)}/keys/${seg(key!)}/skip`, body);
      if (values['json'] === true) io.log(JSON.stringify(answer));
      else io.log(`skipping offset ${seq} of ${key} (${flow}): it goes to the dead-letter topic as SKIPPED if it is still first, and the key resumes`);
      return EXIT.ok;
    },
  },
  dlq: {
    summary: 'a flow\'s newest dead letters: reason, source, key, value preview; counts by reason',
    usage: 'dlq <flow> [--reason R] [--key K] [--limit N] [--json]',
    options: { ...READ_OPTIONS, reason: { type: 'string' }, key: { type: 'string' }, limit: { type: 'string' } },
    details: '  --reason R     only this reason (BUFFER_FULL, INVALID_EVENT, MISSING_KEY, ...)\n  --key K        only this key\n  --limit N      the newest N (default 100, at most 1000)',
    async run({ values, positionals }, io) {
      need(positionals, 1, 'the flow');
      const [flow] = positionals;
      const query = new URLSearchParams({ limit: String(values['limit'] ?? '100') });
      if (typeof values['reason'] === 'string') query.set('reason', values['reason']);
      if (typeof values['key'] === 'string') query.set('key', values['key']);
      const answer = (await client(values).call('GET', `/api/v1/flows/${seg(flow!)}/dead-letters?${query}`)) as {
        items: Array<{ partition: number; offset: number; timestamp: number; key: string | null; reason: string | null; source: { topic: string | null; partition: number | null; offset: number | null }; valuePreview: string | null }>;
        countsByReason: Record<string, number>;
      };
      if (values['json'] === true) io.log(JSON.stringify(answer));
      else {
        if (answer.items.length > 0) {
          io.log(
            table([
              ['TIME', 'REASON', 'KEY', 'SOURCE', 'DLQ PARTITION/OFFSET', 'VALUE'],
              ...answer.items.map((d) => [when(d.timestamp), d.reason ?? '?', d.key ?? '-', `${d.source.topic}/${d.source.partition}/${d.source.offset}`, `${d.partition}/${d.offset}`, (d.valuePreview ?? '').slice(0, 60)]),
            ]),
          );
        }
        io.error(`${answer.items.length} dead letters; by reason: ${Object.entries(answer.countsByReason).map(([r, n]) => `${r} ${n}`).join(', ') || 'none'}`);
      }
      return EXIT.ok;
    },
  },
  'migrate-from-original': {
    summary: 'move the events the original (Java) system holds into event-pause, before its first start',
    usage: 'migrate-from-original --flow <id> --changelog <topic> [--original-group G] [--dry-run] [--json]',
    options: { flow: { type: 'string' }, changelog: { type: 'string' }, 'original-group': { type: 'string' }, 'dry-run': { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    details: `  --flow ID            the flow (from the flows file, EVENT_PAUSE_CONFIG)
  --changelog TOPIC    the original's buffer-store changelog (<its application.id>-<store>-changelog)
  --original-group G   the original's application.id (default: found from the changelog's name)
  --dry-run            read and check everything, write nothing
Needs KAFKA_BROKERS (and the KAFKA_* security settings). Stop the original first; run this
before event-pause's first start on the flow. See the README's "Switching from the original".`,
    async run({ values }, io) {
      if (typeof values['flow'] !== 'string' || typeof values['changelog'] !== 'string') throw new CliError(EXIT.usage, 'both --flow and --changelog are needed');
      const { runMigration } = await import('./migrate.ts');
      const report = await runMigration({
        flow: values['flow'],
        changelog: values['changelog'],
        ...(typeof values['original-group'] === 'string' ? { originalGroup: values['original-group'] } : {}),
        dryRun: values['dry-run'] === true,
        progress: (line) => io.error(line),
      }).catch((error: unknown) => {
        throw new CliError((error as { exitCode?: number }).exitCode ?? EXIT.failed, (error as Error).message);
      });
      if (values['json'] === true) io.log(JSON.stringify(report));
      else {
        io.log(
          `${report.dryRun ? 'dry run: would move' : 'moved'} ${report.events} events of ${report.keys} keys from ${String(values['changelog'])} (group ${report.originalGroup}); ` +
            `${report.dryRun ? 'would start' : 'event-pause\'s group'} ${report.group} ${report.dryRun ? '' : 'starts '}at the original's offsets`,
        );
      }
      return EXIT.ok;
    },
  },
};

function topHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  return `usage: event-pause <command> [options]   (event-pause <command> --help for its options)

commands:
${Object.entries(COMMANDS)
  .map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`)
  .join('\n')}

The commands that read or change keys talk to a running service:
${HTTP_HELP}

exit codes: 0 done, 1 request failed (service unreachable or 5xx), 2 usage or bad input (400),
3 not found (404), 4 token refused (401/403), 5 conflict (409)`;
}

function commandHelp(command: Command): string {
  const lines = [`usage: event-pause ${command.usage}`, '', command.summary];
  if (command.details !== undefined) lines.push('', command.details);
  if ('url' in command.options) lines.push('', HTTP_HELP);
  if ('json' in command.options) lines.push('  --json         the answer as JSON on standard output');
  return lines.join('\n');
}

export async function main(argv: readonly string[], io: Out = { log: (l) => process.stdout.write(`${l}\n`), error: (l) => process.stderr.write(`${l}\n`) }): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.log(topHelp());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    io.error(`event-pause: unknown command "${name}"; commands: ${Object.keys(COMMANDS).join(', ')} (event-pause --help)`);
    return EXIT.usage;
  }
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...rest], options: command.options, allowPositionals: true, strict: true }) as typeof parsed;
  } catch (error) {
    io.error(`event-pause ${name}: ${(error as Error).message} (event-pause ${name} --help)`);
    return EXIT.usage;
  }
  if (parsed.values['help'] === true) {
    io.log(commandHelp(command));
    return EXIT.ok;
  }
  try {
    return await command.run(parsed, io);
  } catch (error) {
    if (error instanceof CliError) {
      io.error(`event-pause ${name}: ${error.message}`);
      return error.code;
    }
    io.error(`event-pause ${name}: ${(error as Error).message ?? String(error)}`);
    return EXIT.failed;
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
