/**
 * The composition root: turns a config into a running node by choosing an implementation for each interface.
 * Embedded defaults: SQLite in DATA_DIR, the in-process bus, the key file, the local signing key, `ws`.
 */
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Authenticator } from './auth/authenticator.js';
import { createAuthenticator } from './auth/create-authenticator.js';
import { loadOrCreateSigningKey } from './auth/signing-key.js';
import type { Bus } from './bus/bus.js';
import { MemoryBus } from './bus/memory-bus.js';
import { ChatService } from './chat/chat-service.js';
import type { Config } from './config.js';
import { DataKeyRing } from './crypto/data-keys.js';
import { FileKeyProvider } from './crypto/file-key-provider.js';
import type { KeyProvider } from './crypto/key-provider.js';
import { buildHttpApp } from './http/app.js';
import { API_ROUTES } from './http/routes/index.js';
import { createLogger } from './logger.js';
import { Metrics } from './metrics.js';
import { PostgresStore } from './store/postgres-store.js';
import { SqliteStore } from './store/sqlite-store.js';
import { RedisBus } from './bus/redis-bus.js';
import type { Store } from './store/store.js';
import type { Transport } from './transport/transport.js';
import type { AuditSink } from './audit/audit-sink.js';
import { AuditWriter } from './audit/audit-writer.js';
import { createAuditSink } from './audit/create-audit-sink.js';
import { CRISIS_RESOURCES_ENV, containsPlaceholder, loadCrisisResources } from './risk/crisis-resources.js';
import { PhraseListScreen } from './risk/phrase-list-screen.js';
import { runRetention } from './retention/retention.js';
import { RetentionTimer } from './retention/retention-timer.js';
import type { RiskScreen } from './risk/risk-screen.js';
import { WsTransport } from './transport/ws-transport.js';

export const WS_PATH = '/ws';

/** Replacements for the defaults, for tests and other deployments. */
export interface ServerOverrides {
  readonly logger?: Logger;
  readonly store?: Store;
  readonly keyProvider?: KeyProvider;
  readonly authenticator?: Authenticator;
  readonly bus?: Bus;
  readonly transport?: Transport;
  readonly now?: () => number;
  readonly riskScreen?: RiskScreen;
  readonly auditSink?: AuditSink;
}

/** The store the config selects: PostgreSQL when DATABASE_URL is set, else SQLite in DATA_DIR. */
export function createStore(config: Config): Store {
  if (config.databaseUrl)
    return new PostgresStore({ connectionString: config.databaseUrl, poolSize: config.databasePoolSize });
  return new SqliteStore({ dataDir: config.dataDir, busyTimeoutMs: config.sqliteBusyTimeoutMs });
}

/** The bus the config selects: Redis when REDIS_URL is set, else in-process. */
export function createBus(config: Config, log: Logger, onPublishError?: () => void): Bus {
  if (config.redisUrl) return new RedisBus({ url: config.redisUrl, sharded: config.redisSharded, log, onPublishError });
  return new MemoryBus();
}

export class TherapyChatServer {
  private stopping: Promise<void> | undefined;
  private retention: RetentionTimer | undefined;

  private constructor(
    readonly config: Config,
    readonly log: Logger,
    readonly metrics: Metrics,
    readonly store: Store,
    readonly keys: DataKeyRing,
    readonly chat: ChatService,
    readonly http: FastifyInstance,
    private readonly transport: Transport,
    readonly audit: AuditWriter,
    private readonly auditSink: AuditSink,
  ) {}

  static async create(config: Config, overrides: ServerOverrides = {}): Promise<TherapyChatServer> {
    const log = overrides.logger ?? createLogger(config.logLevel);
    const metrics = new Metrics();
    const store = overrides.store ?? createStore(config);
    await store.migrate();
    const provider =
      overrides.keyProvider ?? FileKeyProvider.openOrCreate(config.dataDir, log.child({ module: 'keys' }));
    const keys = new DataKeyRing(store, provider);
    const authenticator =
      overrides.authenticator ?? createAuthenticator(config, store, await loadOrCreateSigningKey(config.dataDir));
    const metricsRef = metrics;
    const bus =
      overrides.bus ?? createBus(config, log.child({ module: 'bus' }), () => metricsRef.busPublishFailures.inc());
    log.info(
      {
        store: config.databaseUrl ? 'postgres' : 'sqlite',
        bus: config.redisUrl ? (config.redisSharded ? 'redis-sharded' : 'redis') : 'memory',
      },
      'backends selected',
    );
    const auditSink = overrides.auditSink ?? createAuditSink(config);
    const auditLog = log.child({ module: 'audit' });
    const audit = new AuditWriter({
      sink: auditSink,
      onError: (err, pending) => auditLog.error({ err, pending }, 'audit append failed; retrying'),
    });
    const riskScreen = overrides.riskScreen ?? PhraseListScreen.fromFile(config.riskPhrasesFile);
    const crisisResources = loadCrisisResources({ [CRISIS_RESOURCES_ENV]: config.crisisResourcesFile });
    if (containsPlaceholder(crisisResources)) {
      log.warn(
        'CRISIS RESOURCES NOT SET: patients whose messages match the risk screen are shown placeholder contacts; set CRISIS_RESOURCES_FILE (docs/risk-screening.md)',
      );
    }
    const chat = new ChatService({
      audit,
      riskScreen,
      crisisResources,
      config,
      log: log.child({ module: 'chat' }),
      metrics,
      store,
      keys,
      bus,
      authenticator,
      now: overrides.now,
    });
    const http = buildHttpApp({
      log: log.child({ module: 'http' }),
      metrics,
      api: {
        deps: {
          config,
          log: log.child({ module: 'api' }),
          store,
          keys,
          keyProvider: provider,
          authenticator,
          audit,
          chat,
          now: chat.now,
        },
        modules: API_ROUTES,
      },
      readiness: async () => {
        if (chat.shuttingDown) throw new Error('shutting down');
        if (!bus.healthy) throw new Error('bus (Redis) unreachable');
        if (!audit.healthy) throw new Error('audit log unavailable');
        await store.ping();
      },
    });
    const transport = overrides.transport ?? new WsTransport();
    transport.attach(http.server, { path: WS_PATH, hardMaxFrameBytes: 2 * config.limits.maxFrameBytes }, (conn) =>
      chat.accept(conn),
    );
    const node = new TherapyChatServer(config, log, metrics, store, keys, chat, http, transport, audit, auditSink);
    node.retention = new RetentionTimer({
      intervalMs: config.retentionIntervalMs,
      log: log.child({ module: 'retention' }),
      run: () => runRetention({ db: store.kysely, audit, now: chat.now, keyRing: keys, chat }),
    });
    return node;
  }

  /** Starts listening; resolves with the bound address (port 0 picks a free port). */
  async listen(): Promise<{ host: string; port: number }> {
    await this.chat.ready;
    await this.http.listen({ port: this.config.port, host: this.config.host });
    this.chat.startHeartbeats();
    this.retention?.start();
    const addr = this.http.server.address() as AddressInfo;
    this.log.info({ host: addr.address, port: addr.port, ws: WS_PATH }, 'listening');
    return { host: addr.address, port: addr.port };
  }

  get port(): number {
    return (this.http.server.address() as AddressInfo).port;
  }

  /** Graceful stop: refuse new connections, finish in-flight commits, close sockets with 1001, close the store. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info('shutting down');
      this.transport.stopAccepting();
      await this.retention?.stop();
      await this.chat.shutdown(this.config.shutdownTimeoutMs);
      // Give close frames a moment to leave before the sockets are torn down.
      await new Promise((r) => setTimeout(r, 50));
      const step = async (name: string, fn: () => Promise<unknown>) => {
        this.log.debug({ step: name }, 'shutdown step');
        await fn();
      };
      await step('transport', () => this.transport.close());
      await step('http', () => this.http.close());
      await step('bus', () => this.chat.bus.close());
      await step('audit', () =>
        this.audit
          .close(this.config.shutdownTimeoutMs)
          .catch((err: unknown) => this.log.error({ err }, 'audit events lost at shutdown')),
      );
      await step('audit-sink', () => this.auditSink.close());
      await step('store', () => this.store.close());
      this.log.info('stopped');
    })();
    return this.stopping;
  }
}
