/**
 * The serve bench's load generator, run as its own process (bench/suites/serve.ts spawns it) so autocannon's
 * event loop never shares a process with the service it measures. Reads one JSON job from argv[2], prints
 * autocannon's result as one JSON line.
 */
import autocannon from 'autocannon';

/** What bench/suites/serve.ts asks of this process (as JSON in argv[2]). */
export interface Job {
  url: string;
  token: string;
  kind: 'get' | 'post';
  connections: number;
  seconds: number;
  maxRequests: number;
  ids: string[];
  /** POST only: the recent events every request sends. */
  events?: object[];
  /**
   * Requests per second offered in all (autocannon's overallRate); absent = as fast as the connections go. A fixed
   * rate measures the latency at the target throughput; an unbounded one measures capacity, where the
   * latency is only the queue the closed loop of connections builds (connections ÷ throughput at least).
   */
  rate?: number;
}

async function main() {
  const job = JSON.parse(process.argv[2]) as Job;
  const headers = { authorization: `Bearer ${job.token}`, 'content-type': 'application/json' };
  let k = 0;
  const next = () => job.ids[k++ % job.ids.length];
  const request: autocannon.Request =
    job.kind === 'get'
      ? { method: 'GET', setupRequest: (r) => ({ ...r, path: `/v1/users/${encodeURIComponent(next())}/score` }) }
      : {
          method: 'POST',
          path: '/v1/score',
          setupRequest: (r) => ({ ...r, body: JSON.stringify({ userId: next(), events: job.events }) }),
        };
  const result = await new Promise<autocannon.Result>((resolve, reject) =>
    autocannon(
      {
        url: job.url,
        connections: job.connections,
        duration: job.seconds,
        maxOverallRequests: job.maxRequests,
        ...(job.rate ? { overallRate: job.rate } : {}),
        headers,
        requests: [request],
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    ),
  );
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
