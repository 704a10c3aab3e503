/**
 * `npm run bench -- serve [pipeline] [seconds]`: the scoring service under load. Starts `funnelcast serve` as its own
 * process (so the load generator does not share its event loop) on the pipeline's champion in FUNNELCAST_HOME,
 * then autocannon against 127.0.0.1, bounded in time and count: GET /v1/users/:id/score over the scored users, and
 * POST /v1/score with 50 recent events each. Targets (issue 24): GET ≥ 2,000 req/s with p99 < 20 ms, POST ≥ 500
 * req/s with p99 < 50 ms. Records the server's resident memory and the machine's load average while measuring.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { row, type BenchRow } from '../harness';
import { projectRoot } from '../../infra/root';

const TOKEN = 'bench-token';

function rssMiB(pid: number): { rss: number; peak: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? NaN) / 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

async function startServer(pipeline: string) {
  const child = spawn(
    process.execPath,
    [join(projectRoot(), 'bin', 'funnelcast.js'), 'serve', '--pipeline', pipeline, '--port', '0'],
    {
      env: { ...process.env, FUNNELCAST_SERVE_TOKEN: TOKEN },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out);
    });
    child.once('exit', (code) => reject(new Error(`funnelcast serve exited ${code}: ${out}`)));
  });
  const m = /at (http:\/\/[^ ]+) \(champion ([^,]+), cutoff ([^,]+), (\d+) users\)/.exec(line);
  if (!m) throw new Error(`funnelcast serve is not ready: ${line}`);
  return { child, url: m[1], version: m[2], cutoff: m[3], users: Number(m[4]) };
}

function load(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => autocannon(opts, (err, res) => (err ? reject(err) : resolve(res))));
}

async function userIds(url: string, n: number): Promise<string[]> {
  // The scored users' ids are not listed by the API: take the sample's id shape, keeping those that answer 200.
  const ids: string[] = [];
  for (let i = 1; ids.length < n && i < n * 4; i++) {
    const id = `u${String(i).padStart(6, '0')}`;
    const r = await fetch(`${url}/v1/users/${id}/score`, { headers: { authorization: `Bearer ${TOKEN}` } });
    await r.arrayBuffer(); // an unread body keeps its connection busy
    if (r.status === 200) ids.push(id);
  }
  return ids;
}

export async function run(args: string[]): Promise<{ rows: BenchRow[]; notes: string[] }> {
  const pipeline = args[0] ?? 'sample';
  const seconds = Number(args[1] ?? 10);
  const server = await startServer(pipeline);
  const loadBefore = os.loadavg()[0];
  try {
    const ids = await userIds(server.url, 500);
    if (!ids.length) throw new Error('no scored user answers: is the champion scored?');
    const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    let k = 0;
    const get = await load({
      url: server.url,
      connections: 32,
      duration: seconds,
      maxOverallRequests: 200_000,
      headers,
      requests: [{ method: 'GET', setupRequest: (r) => ({ ...r, path: `/v1/users/${ids[k++ % ids.length]}/score` }) }],
    });
    const afterGet = rssMiB(server.child.pid!);
    const base = Date.parse(server.cutoff) + 86_400_000;
    const events = Array.from({ length: 50 }, (_, i) => ({
      ts: new Date(base + i * 60_000).toISOString(),
      event: i % 10 === 9 ? 'addtocart' : 'view',
      itemId: `i${i}`,
    }));
    const post = await load({
      url: server.url,
      connections: 64,
      duration: seconds,
      maxOverallRequests: 50_000,
      headers,
      requests: [
        {
          method: 'POST',
          path: '/v1/score',
          setupRequest: (r) => ({ ...r, body: JSON.stringify({ userId: ids[k++ % ids.length], events }) }),
        },
      ],
    });
    const mem = rssMiB(server.child.pid!);
    const loadAfter = os.loadavg()[0];
    const dataset = `${pipeline} (${server.users.toLocaleString('en-US')} users, ${server.version})`;
    const r = (name: string, metric: string, ours: number, better: 'lower' | 'higher', note?: string) =>
      row({ name, dataset, metric, ours, reference: null, better, note });
    return {
      rows: [
        r('GET /v1/users/:id/score', 'requests/s', get.requests.average, 'higher', 'target ≥ 2,000'),
        r('GET /v1/users/:id/score', 'p99 latency ms', get.latency.p99, 'lower', 'target < 20'),
        r('GET /v1/users/:id/score', 'non-2xx', get.non2xx + get.errors, 'lower'),
        r('POST /v1/score (50 events)', 'requests/s', post.requests.average, 'higher', 'target ≥ 500'),
        r('POST /v1/score (50 events)', 'p99 latency ms', post.latency.p99, 'lower', 'target < 50'),
        r('POST /v1/score (50 events)', 'non-2xx', post.non2xx + post.errors, 'lower'),
        r('server memory', 'RSS MiB after GET', afterGet.rss, 'lower'),
        r('server memory', 'RSS MiB after POST (peak)', mem.peak, 'lower'),
      ],
      notes: [
        `autocannon against ${server.url}: GET ${seconds}s × 32 connections, POST ${seconds}s × 64 connections (50 events each, as of now)`,
        `machine load average (1 min) ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after, on ${os.cpus().length} cores shared with other work`,
        `server RSS ${afterGet.rss.toFixed(0)} MiB after GET, ${mem.rss.toFixed(0)} MiB after POST, peak ${mem.peak.toFixed(0)} MiB`,
      ],
    };
  } finally {
    server.child.kill('SIGTERM');
  }
}
