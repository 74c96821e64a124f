/** The HTTP API, on Fastify, sharing its server and port with the WebSocket endpoint. */
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';

export interface HttpAppDeps {
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Resolves when the node can serve (store reachable, not shutting down); rejects with the reason otherwise. */
  readonly readiness: () => Promise<void>;
}

export function buildHttpApp(deps: HttpAppDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    // Probes and scrapes would drown the log; other requests are logged.
    logController: new LogController({
      disableRequestLogging: (req) => req.url === '/healthz' || req.url === '/readyz' || req.url === '/metrics',
    }),
    bodyLimit: 64 * 1024,
    return503OnClosing: true,
    // On close, drop every remaining connection: WebSocket ones were closed already, and a probe or a half-closed
    // socket must not hold the shutdown open.
    forceCloseConnections: true,
  });

  // Fastify's default 404 logs the whole URL, query string included, where a misguided client may have put a token.
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: 'Not Found', path: req.url.split('?')[0] }));

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    try {
      await deps.readiness();
      return { status: 'ready' };
    } catch (err) {
      return reply.code(503).send({ status: 'unavailable', reason: err instanceof Error ? err.message : String(err) });
    }
  });

  app.get('/metrics', async (_req, reply) => {
    const body = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(body);
  });

  return app;
}
