/** `funnelcast serve`: the champion's scores over HTTP, beside the worker (serve/). */
import { parseArgs } from 'node:util';
import { loadPipeline } from '../pipelines/load';
import { EXIT, print, UsageError } from './format';

function intFlag(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${flag} must be a whole number, got "${value}"`);
  return n;
}

export const SERVE_HELP = `Usage: funnelcast serve --pipeline <p> [--port 8480] [--host 127.0.0.1] [--insecure-local]

Serves the pipeline's champion: GET /v1/users/:id/score, POST /v1/score (history + recent events, the batch
features), GET /v1/campaigns/:name/members/:id, /healthz, /readyz, /metrics (Prometheus). It loads the champion
and the lists the latest run scored with it, and switches atomically when the champion pointer moves.

/v1/* needs "Authorization: Bearer $FUNNELCAST_SERVE_TOKEN"; without that variable the service refuses to start
unless --insecure-local (then only on 127.0.0.1, no token).

Options:
  --pipeline <p>       pipeline name or definition file (default sample)
  --port <n>           port (default 8480; 0 = any free port)
  --host <addr>        address to listen on (default 127.0.0.1)
  --poll <ms>          how often the champion pointer is checked (default 1000)
  --insecure-local     no token (listens on 127.0.0.1 only)

Examples:
  FUNNELCAST_SERVE_TOKEN=$(openssl rand -hex 24) funnelcast serve --pipeline sample --port 8480
  curl -H "Authorization: Bearer $FUNNELCAST_SERVE_TOKEN" http://127.0.0.1:8480/v1/users/u000007/score
`;

export async function serveCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      pipeline: { type: 'string', default: 'sample' },
      port: { type: 'string', default: '8480' },
      host: { type: 'string', default: '127.0.0.1' },
      poll: { type: 'string', default: '1000' },
      'insecure-local': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    print(SERVE_HELP);
    return EXIT.ok;
  }
  const token = process.env.FUNNELCAST_SERVE_TOKEN || null;
  const insecure = values['insecure-local']!;
  if (!token && !insecure)
    throw new UsageError(
      'FUNNELCAST_SERVE_TOKEN is not set: set it to the bearer token clients must send, or pass --insecure-local',
    );
  if (!token && values.host !== '127.0.0.1' && values.host !== 'localhost')
    throw new UsageError('--insecure-local listens on 127.0.0.1 only: set FUNNELCAST_SERVE_TOKEN to serve on --host');
  const loaded = loadPipeline(values.pipeline!);
  const { createScoringService } = await import('../serve/app');
  const service = await createScoringService({
    loaded,
    token,
    pollMs: intFlag(values.poll!, '--poll'),
    logger: false,
  });
  const address = await service.app.listen({ port: intFlag(values.port!, '--port'), host: values.host });
  const s = service.holder.snapshot?.state;
  print(
    `serving ${loaded.definition.name} at ${address} ` +
      (s
        ? `(champion ${s.version}, cutoff ${s.cutoff}, ${s.users.index.size} users)`
        : `(not ready: ${service.holder.notReadyReason})`) +
      `${token ? '' : ' WITHOUT a token (--insecure-local)'}\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await service.close();
  return EXIT.ok;
}
