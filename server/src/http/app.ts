/** The HTTP API, on Fastify, sharing its server and port with the WebSocket endpoint. */
import swagger from '@fastify/swagger';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import { StoreUnavailableError } from '../store/store.js';
import { API_ERRORS, ApiError, type ApiErrorCode } from './api-errors.js';
import { type ApiDeps, registerApi, type RouteModule } from './api.js';

export interface HttpAppDeps {
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Resolves when the node can serve (store reachable, not shutting down); rejects with the reason otherwise. */
  readonly readiness: () => Promise<void>;
  /** The `/v1` API: its dependencies and route modules. Without it, only probes and metrics are served. */
  readonly api?: { readonly deps: ApiDeps; readonly modules: readonly RouteModule[] };
  /** The server's version, for the OpenAPI document. */
  readonly version?: string;
}

function errorBody(code: ApiErrorCode, message: string) {
  return { error: code, message };
}

export function buildHttpApp(deps: HttpAppDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    // Probes and scrapes would drown the log; other requests are logged.
    logController: new LogController({
      disableRequestLogging: (req) => req.url === '/healthz' || req.url === '/readyz' || req.url === '/metrics',
    }),
    bodyLimit: 64 * 1024,
    // Unknown fields are refused, as docs/api.md says (Fastify's default silently strips them).
    ajv: { customOptions: { removeAdditional: false } },
    return503OnClosing: true,
    // On close, drop every remaining connection: WebSocket ones were closed already, and a probe or a half-closed
    // socket must not hold the shutdown open.
    forceCloseConnections: true,
  });

  // Fastify's default 404 logs the whole URL, query string included, where a misguided client may have put a token.
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send(errorBody('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`)),
  );

  // Every refusal has one shape: { error: CODE, message }. Nothing of the request body is echoed back.
  app.setErrorHandler((err: FastifyError | ApiError, req, reply) => {
    if (err instanceof ApiError) {
      for (const [k, v] of Object.entries(err.headers)) void reply.header(k, v);
      return reply.code(err.status).send(errorBody(err.code, err.message));
    }
    if ((err as FastifyError).validation) {
      return reply.code(400).send(errorBody('VALIDATION_FAILED', err.message));
    }
    if (err instanceof StoreUnavailableError) {
      req.log.warn({ err }, 'store unavailable');
      return reply.code(503).send(errorBody('UNAVAILABLE', 'the store is unreachable now; retry'));
    }
    const status = (err as FastifyError).statusCode;
    if (status === 413) return reply.code(413).send(errorBody('PAYLOAD_TOO_LARGE', err.message));
    if (status !== undefined && status >= 400 && status < 500) {
      // Fastify's own client errors (bad JSON, wrong content type): a request problem, said plainly.
      return reply.code(400).send(errorBody('VALIDATION_FAILED', err.message));
    }
    req.log.error({ err }, 'request failed');
    return reply.code(500).send(errorBody('INTERNAL', 'internal error; it has been logged'));
  });

  if (deps.api) {
    void app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'therapy-chat HTTP API',
          version: deps.version ?? '1',
          description:
            'Accounts and login, administration, patient data rights, therapist notes, supervision and break-glass. Errors: ' +
            Object.keys(API_ERRORS).join(', ') +
            ' (docs/api.md).',
        },
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      },
    });
  }

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

  if (deps.api) registerApi(app, deps.api.deps, deps.api.modules);

  return app;
}
