/**
 * Seeded random request bodies for the scoring service's fuzz test: well-formed JSON of random shapes, near-valid
 * score requests with one field broken, truncated and garbage bytes, wrong content types and oversized bodies.
 */
import { mulberry32 } from '../../ml/random';

export interface FuzzCase {
  path: string;
  body: string;
  contentType: string;
}

export function* fuzzBodies(n: number, seed: number): Generator<FuzzCase> {
  const rnd = mulberry32(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
  const str = () =>
    pick(['', 'view', 'u000007', '2024-05-02T10:00:00Z', 'x'.repeat(300), '\u0000', '💥', '{"', 'null', '-1']);
  const value = (depth: number): unknown => {
    const k = Math.floor(rnd() * (depth > 2 ? 5 : 7));
    if (k === 0) return null;
    if (k === 1) return rnd() < 0.5;
    if (k === 2) return pick([0, -1, 1e308, -1e-308, 3.5, 2 ** 53 + 1]);
    if (k === 3 || k === 4) return str();
    if (k === 5) return Array.from({ length: Math.floor(rnd() * 4) }, () => value(depth + 1));
    return Object.fromEntries(
      Array.from({ length: Math.floor(rnd() * 4) }, () => [
        pick(['userId', 'events', 'asOf', 'ts', 'event', 'revenue', 'a']),
        value(depth + 1),
      ]),
    );
  };
  const nearValid = () => {
    const e: Record<string, unknown> = { ts: '2024-05-02T10:00:00Z', event: 'view', itemId: 'i1', revenue: 1.5 };
    const body: Record<string, unknown> = { userId: pick(['u000007', 'u000010', 'ghost']), events: [e] };
    const field = pick(['userId', 'events', 'asOf', 'ts', 'event', 'itemId', 'revenue', 'sessionId']);
    const target = ['ts', 'event', 'itemId', 'revenue', 'sessionId'].includes(field) ? e : body;
    target[field] = value(1);
    return body;
  };
  for (let i = 0; i < n; i++) {
    const kind = Math.floor(rnd() * 6);
    const path = pick(['/v1/score', '/v1/score', '/v1/score', '/v1/users/u000007/score', '/v1/campaigns/x/members/y']);
    let body: string;
    if (kind <= 1) body = JSON.stringify(nearValid());
    else if (kind === 2) body = JSON.stringify(value(0));
    else if (kind === 3) body = JSON.stringify(nearValid()).slice(0, Math.floor(rnd() * 40));
    else if (kind === 4)
      body = Array.from({ length: Math.floor(rnd() * 64) }, () => String.fromCharCode(Math.floor(rnd() * 256))).join(
        '',
      );
    else
      body = JSON.stringify({
        userId: 'u000007',
        events: Array.from({ length: 1001 }, () => ({ ts: 'x', event: 'view' })),
      });
    yield {
      path,
      body,
      contentType:
        rnd() < 0.9 ? 'application/json' : pick(['text/plain', 'application/xml', 'application/json; charset=latin1']),
    };
  }
}
