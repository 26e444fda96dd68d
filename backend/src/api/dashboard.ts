/**
 * Serves the operators' dashboard (the Angular build in frontend/dist) at `/` when it is built.
 * A file of the build is sent as it is; any other GET of a page that is not an API path and
 * accepts text/html gets index.html, so that the dashboard's own addresses (/flows/demo, ...)
 * survive a reload. Everything else, API paths first, still gets the API's JSON 404.
 */
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { repoRoot } from '../config/config.ts';

export const DASHBOARD_DIR = path.join(repoRoot(), 'frontend', 'dist');

const API_PREFIXES = ['/api', '/control', '/docs', '/health', '/ready', '/metrics'];
const INDEX = 'index.html';
/** Names the Angular build gives with output hashing: they never change content, so cache for good. */
const HASHED = /-[A-Za-z0-9_]{8,}\.(?:js|css|mjs)$/;
export interface DashboardOptions {
  /** The built dashboard; nothing is served when it holds no index.html. */
  readonly root?: string;
}

type SendFile = (reply: FastifyReply, relative: string) => FastifyReply;

function isApiPath(pathname: string): boolean {
  return API_PREFIXES.some((prefix) => pathname === prefix || pathname.startsWith(`${prefix}/`));
}

function decodedPath(url: string): string | undefined {
  try {
    return decodeURIComponent(url.split('?')[0] ?? '/');
  } catch {
    return undefined;
  }
}

function acceptsHtml(request: FastifyRequest): boolean {
  return (request.headers.accept ?? '').includes('text/html');
}

function cacheControl(relative: string): string {
  return HASHED.test(relative) ? 'public, max-age=31536000, immutable' : 'no-cache';
}

/** The path of a regular file under `root` that `pathname` names, if there is one. */
async function fileUnder(root: string, pathname: string): Promise<string | undefined> {
  const relative = path.normalize(pathname).replace(/^[/\\]+/, '');
  if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) return undefined;
  try {
    return (await stat(path.join(root, relative))).isFile() ? relative : undefined;
  } catch {
    return undefined;
  }
}

/** @fastify/static's sendFile (ETag, ranges, conditional requests), with our cache policy. */
async function staticSender(app: FastifyInstance, root: string): Promise<SendFile> {
  await app.register(fastifyStatic, { root, serve: false });
  return (reply, relative) => reply.header('cache-control', cacheControl(relative)).sendFile(relative, { cacheControl: false });
}

export function dashboardRoutes(options: DashboardOptions = {}): FastifyPluginAsync {
  const root = path.resolve(options.root ?? DASHBOARD_DIR);
  return async (app) => {
    if (!existsSync(path.join(root, INDEX))) {
      app.log.info({ dashboard: root }, 'dashboard not built: serving the API only');
      return;
    }
    const send = await staticSender(app, root);
    app.get('/*', { schema: { hide: true }, logLevel: 'warn' }, async (request, reply) => {
      const pathname = decodedPath(request.url);
      if (pathname !== undefined && !isApiPath(pathname)) {
        const file = await fileUnder(root, pathname);
        if (file !== undefined) return send(reply, file);
        // The root is the dashboard for any client; deeper addresses only for browsers (an API
        // client asking for a missing path gets the JSON 404).
        if (pathname === '/' || acceptsHtml(request)) return send(reply, INDEX);
      }
      reply.callNotFound();
      return reply;
    });
  };
}
