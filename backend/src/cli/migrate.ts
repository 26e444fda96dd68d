/** `event-pause migrate-from-original`: the settings, the flow and Kafka clients for the migration. */
import { ConfigError, loadSettings } from '../config/config.ts';
import { kafkaClients } from '../engines/kafka/kafka-engine.ts';
import { migrateFromOriginal, MigrationError, type MigrationReport } from '../engines/kafka/migrate-original.ts';

export interface MigrateArgs {
  readonly flow: string;
  readonly changelog: string;
  readonly originalGroup?: string;
  readonly dryRun: boolean;
  readonly progress: (line: string) => void;
}

/** Runs the migration; errors carry `exitCode` (2: a setting or argument, 1: refused or failed). */
export async function runMigration(args: MigrateArgs): Promise<MigrationReport> {
  try {
    const settings = loadSettings();
    const flow = settings.flows.find((f) => f.id === args.flow);
    if (flow === undefined) throw new ConfigError('--flow', `unknown flow "${args.flow}"; flows: ${settings.flows.map((f) => f.id).join(', ')}`);
    return await migrateFromOriginal(kafkaClients(settings), {
      flow,
      applicationId: settings.runtime.applicationId,
      changelog: args.changelog,
      ...(args.originalGroup === undefined ? {} : { originalGroup: args.originalGroup }),
      dryRun: args.dryRun,
      progress: args.progress,
    });
  } catch (error) {
    const exitCode = error instanceof ConfigError ? 2 : 1;
    const message = error instanceof MigrationError || error instanceof ConfigError ? error.message : `failed: ${(error as Error).message}`;
    throw Object.assign(new Error(message), { exitCode });
  }
}
