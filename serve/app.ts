/**
 * The scoring service (`funnelcast serve`): Fastify with a JSON schema per route, a bearer token on /v1/*,
 * /healthz, /readyz and Prometheus /metrics, and a watcher that swaps the whole serving snapshot when the
 * champion pointer moves (and a run has scored lists with the new champion).
 */
import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { LoadedPipeline } from '../pipelines/load';
import { StateHolder } from './holder';
import { BadRequest, registerScoreRoutes } from './routes';
import { loadServingState } from './state';
import { championVersion, runScoredWith } from './runs';

export interface ServeOptions {
  loaded: LoadedPipeline;
  /** Bearer token required on /v1/*; null only with --insecure-local. */
  token: string | null;
  /** How often the champion pointer is checked (ms). */
  pollMs?: number;
  /** Request body limit in bytes (larger: 413). */
  bodyLimit?: number;
  logger?: boolean;
}

export interface ScoringService {
  app: FastifyInstance;
  holder: StateHolder;
  /** Checks the champion pointer now and switches when it moved (the poller calls this). */
  refresh(): Promise<boolean>;
  close(): Promise<void>;
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(/^Bearer (.+)$/.exec(header ?? '')?.[1] ?? '');
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

function metrics(app: FastifyInstance, holder: StateHolder) {
  const registry = new Registry();
  const labelNames = ['method', 'route', 'status'] as const;
  const requests = new Counter({
    name: 'funnelcast_http_requests_total',
    help: 'HTTP requests',
    labelNames,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'funnelcast_http_request_duration_seconds',
    help: 'HTTP request latency',
    labelNames,
    // Fine below 50 ms: the targets are p99 under 20 ms (GET) and 50 ms (POST), read from these buckets too.
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  });
  const model = new Gauge({
    name: 'funnelcast_model_info',
    help: 'The serving model version (value 1)',
    labelNames: ['version', 'cutoff'],
    registers: [registry],
  });
  const switches = new Gauge({
    name: 'funnelcast_model_switches',
    help: 'Champion switches since start',
    registers: [registry],
  });
  const batches = new Histogram({
    name: 'funnelcast_online_batch_size',
    help: 'POST /v1/score requests computed together in one feature batch',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [registry],
  });
  holder.onBatch = (n) => batches.observe(n);
  // The process's own: garbage collection pauses by kind and the event loop's delay (p99 since the last scrape),
  // so a latency tail can be told apart from time spent waiting for a core on a shared machine.
  collectDefaultMetrics({
    register: registry,
    eventLoopMonitoringPrecision: 10,
    gcDurationBuckets: [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1],
  });
  app.addHook('onResponse', async (req, reply) => {
    const labels = { method: req.method, route: req.routeOptions.url ?? 'unknown', status: String(reply.statusCode) };
    requests.inc(labels);
    latency.observe(labels, reply.elapsedTime / 1000);
  });
  app.get('/metrics', async (_req, reply) => {
    model.reset();
    const s = holder.snapshot?.state;
    if (s) model.set({ version: s.version, cutoff: s.cutoff }, 1);
    switches.set(holder.switches);
    return reply.type(registry.contentType).send(await registry.metrics());
  });
}

export async function createScoringService(opts: ServeOptions): Promise<ScoringService> {
  const def = opts.loaded.definition;
  const holder = new StateHolder(def);
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    // Unknown fields are refused (naming them), not silently dropped; types are not coerced.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  });
  app.setErrorHandler((err: FastifyError | BadRequest, _req, reply) => {
    if (err instanceof BadRequest)
      return reply
        .code(err.statusCode)
        .send({ error: err.statusCode === 404 ? 'not_found' : 'bad_request', field: err.field, message: err.message });
    const fe = err as FastifyError;
    if (fe.validation) {
      const v = fe.validation[0];
      const field = `${fe.validationContext ?? 'body'}${v?.instancePath ?? ''}${v?.keyword === 'additionalProperties' ? `/${String((v.params as { additionalProperty?: string }).additionalProperty)}` : ''}`;
      return reply.code(400).send({ error: 'bad_request', field, message: `${field}: ${v?.message ?? fe.message}` });
    }
    const status = fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500 ? fe.statusCode : 500;
    const field = status === 413 ? 'body' : fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'content-type' : 'body';
    if (status === 500) app.log.error(err);
    return reply.code(status).send({ error: status === 500 ? 'internal' : 'bad_request', field, message: fe.message });
  });
  if (opts.token) {
    const token = opts.token;
    app.addHook('onRequest', async (req, reply) => {
      if (req.url.startsWith('/v1/') && !tokenMatches(req.headers.authorization, token))
        await reply.code(401).send({
          error: 'unauthorized',
          field: 'authorization',
          message: 'authorization: Bearer <FUNNELCAST_SERVE_TOKEN> required',
        });
    });
  }
  metrics(app, holder);
  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_req, reply) => {
    const s = holder.snapshot?.state;
    if (!s) return reply.code(503).send({ ready: false, reason: holder.notReadyReason });
    return {
      ready: true,
      modelVersion: s.version,
      cutoff: s.cutoff,
      runId: s.runId,
      users: s.users.index.size,
      since: s.loadedAt,
    };
  });
  registerScoreRoutes(app, holder, def);

  let loading: Promise<boolean> | null = null;
  const refresh = () => (loading ??= reload(opts.loaded, holder).finally(() => (loading = null)));
  await refresh();
  const timer = setInterval(() => void refresh(), opts.pollMs ?? 1000);
  timer.unref();
  return {
    app,
    holder,
    refresh,
    close: async () => {
      clearInterval(timer);
      await loading;
      await app.close();
      holder.close();
    },
  };
}

/** Loads a new snapshot when the champion (or the run that scored its lists) changed; the swap is one assignment. */
async function reload(loaded: LoadedPipeline, holder: StateHolder): Promise<boolean> {
  const pipeline = loaded.definition.name;
  try {
    const version = await championVersion(pipeline);
    const cur = holder.snapshot?.state;
    const run = version ? await runScoredWith(pipeline, version) : null;
    if (cur && (!version || !run || (cur.version === version && cur.runId === run.runId))) return false;
    holder.install(await loadServingState(loaded));
    holder.notReadyReason = '';
    return true;
  } catch (e) {
    // A failed reload keeps the current snapshot serving; /readyz says why only while there is none.
    if (!holder.snapshot) holder.notReadyReason = (e as Error).message;
    return false;
  }
}
