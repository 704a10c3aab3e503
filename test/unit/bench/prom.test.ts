/**
 * The serve bench's reading of the service's /metrics: the server-side p99 comes from the request histogram of
 * one route over one phase (the difference of two scrapes), as the smallest bucket bound holding 99 %.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Histogram, Registry } from 'prom-client';
import { buckets, minus, quantileBound, shareAbove } from '../../../bench/prom';

describe('serve bench: server-side latency from /metrics', () => {
  it('quantile bound and share over a bound, per route and per phase', async () => {
    const registry = new Registry();
    const h = new Histogram({
      name: 'lat_seconds',
      help: 'x',
      labelNames: ['route'],
      buckets: [0.001, 0.005, 0.02, 0.05],
      registers: [registry],
    });
    for (let i = 0; i < 50; i++) h.observe({ route: '/b' }, 0.04); // another route: never counted
    h.observe({ route: '/a' }, 0.3); // before the phase: not counted
    const before = await registry.metrics();
    for (let i = 0; i < 980; i++) h.observe({ route: '/a' }, 0.0008);
    for (let i = 0; i < 15; i++) h.observe({ route: '/a' }, 0.004);
    for (let i = 0; i < 5; i++) h.observe({ route: '/a' }, 0.03);
    const phase = minus(
      buckets(await registry.metrics(), 'lat_seconds', 'route="/a"'),
      buckets(before, 'lat_seconds', 'route="/a"'),
    );
    assert.equal(quantileBound(phase, 0.98), 0.001);
    assert.equal(quantileBound(phase, 0.99), 0.005);
    assert.equal(quantileBound(phase, 1), 0.05);
    assert.equal(shareAbove(phase, 0.02), 0.005);
    assert.ok(Number.isNaN(quantileBound(new Map(), 0.99)));
  });
});
