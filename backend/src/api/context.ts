/** What every route plugin gets: the engine behind the control plane, and the app's helpers. */
import type { FastifyRequest } from 'fastify';
import type { Settings } from '../config/config.ts';
import type { Cluster } from './cluster.ts';
import type { ActionMeta, ControlPlane } from './control-plane.ts';
import type { EventStream } from './event-stream.ts';
import type { CommitLatencyHistogram } from './metrics.ts';

export interface ApiContext {
  readonly plane: ControlPlane;
  readonly cluster: Cluster;
  readonly events: EventStream;
  readonly histogram: CommitLatencyHistogram;
  readonly settings: Settings;
}

export const DEFAULT_ACTOR = 'api';

/** Reason and actor of a pause or resume: from the body when given, else X-Reason / X-Actor. */
export function actionMeta(request: FastifyRequest, body?: { reason?: string; actor?: string }): ActionMeta {
  const header = (name: string): string | undefined => {
    const value = request.headers[name];
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  return {
    reason: body?.reason ?? header('x-reason'),
    actor: body?.actor ?? header('x-actor') ?? DEFAULT_ACTOR,
  };
}
