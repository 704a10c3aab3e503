/**
 * The two compilations of a feature expression (warehouse/feature-expr.ts): the SQL the batch path runs and the
 * in-memory evaluation online scoring uses give the same value at the edges where they could part: hour and day
 * boundaries to the microsecond, weekends, the window's lower bound (inclusive), times before 1970, NULL revenue
 * and items, no matching event, and customer attributes (numbers, text, missing, non-numeric text).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { withDuckDB } from '../../../warehouse/db';
import {
  count,
  countDistinct,
  daysToCutoff,
  evaluate,
  hourIn,
  isEvent,
  maxTs,
  minTs,
  share,
  sumRevenue,
  toSql,
  weekend,
  within,
  type Expr,
  type UserRef,
} from '../../../warehouse/feature-expr';

const T = '2024-03-04T00:00:00.000Z'; // a Monday
const times = [
  '2024-03-03 23:59:59.999999', // Sunday, last microsecond
  '2024-03-02 00:00:00', // Saturday, first microsecond
  '2024-03-01 23:59:59.999999', // Friday
  '2024-03-01 05:59:59.999999',
  '2024-03-01 06:00:00',
  '2024-03-03 00:00:00', // exactly T − 1 day: inside a 1-day window
  '1969-12-31 23:30:00.5', // before the epoch
  '1969-12-28 12:00:00.000250', // a Sunday before the epoch, a quarter millisecond in
];

const exprs: Record<string, Expr> = {
  night: share(hourIn(0, 6)),
  morning: share(hourIn(6, 12)),
  evening: share(hourIn(18, 24)),
  weekend: share(weekend),
  days: countDistinct('day'),
  items: countDistinct('item'),
  sinceLast: daysToCutoff(maxTs()),
  tenure: daysToCutoff(minTs()),
  lastDay: count(within(86_400_000)),
  viewsLastDay: count(isEvent('view'), within(86_400_000)),
  sinceLastBuy: daysToCutoff(maxTs(isEvent('buy'))),
  revenue: sumRevenue,
  age: { op: 'attrNumber', key: 'age' },
  spaced: { op: 'attrNumber', key: 'spaced' },
  word: { op: 'attrNumber', key: 'tier' },
  gold: { op: 'attrIs', key: 'tier', value: 'gold' },
  missing: { op: 'attrIs', key: 'nope', value: 'gold' },
  num: { op: 'attrIs', key: 'age', value: '41' },
};
const attributes = { age: 41, tier: 'gold', spaced: ' 2.5e1 ' };

describe('feature expressions: SQL and in-memory evaluation agree', () => {
  it('at hour, day, weekend and window edges, before 1970, with NULLs and customer attributes', async () => {
    const sql = await withDuckDB(':memory:', async (c) => {
      await c.run(`SET TimeZone = 'UTC'`);
      await c.run(`CREATE TABLE events_before (ts TIMESTAMP, event VARCHAR, item_id VARCHAR, revenue DOUBLE)`);
      for (const [i, t] of times.entries())
        await c.run(`INSERT INTO events_before VALUES (CAST($t AS TIMESTAMP), $e, $item, $r)`, {
          t,
          e: i % 3 ? 'view' : 'cart',
          item: i % 2 ? `i${i % 3}` : null,
          r: i % 4 ? null : i + 0.25,
        } as never);
      await c.run(`CREATE TABLE c AS SELECT CAST($a AS JSON) AS attributes`, { a: JSON.stringify(attributes) });
      // Aggregates over the events; attributes per customer row (the batch SQL joins them after aggregating).
      const cols = (attr: boolean) =>
        Object.entries(exprs)
          .filter(([, e]) => e.op.startsWith('attr') === attr)
          .map(([k, e]) => `CAST(${toSql(e, (x) => `'${x}'`)} AS DOUBLE) AS ${k}`)
          .join(', ');
      const a = await c.runAndReadAll(`SELECT ${cols(false)} FROM events_before`, { t: T });
      const b = await c.runAndReadAll(`SELECT ${cols(true)} FROM c`);
      return [...a.getRows()[0], ...b.getRows()[0]].map((v) => (v == null ? null : Number(v)));
    });
    const us = (t: string) => Date.parse(t.replace(' ', 'T').slice(0, 23) + 'Z') * 1000 + Number(t.slice(23, 26) || 0);
    const ev = {
      n: times.length,
      ts: times.map(us),
      event: times.map((_, i) => (i % 3 ? 'view' : 'cart')),
      item: times.map((_, i) => (i % 2 ? `i${i % 3}` : null)),
      revenue: times.map((_, i) => (i % 4 ? null : i + 0.25)),
    };
    const refs = {} as Record<UserRef, number | null>;
    const order = [
      ...Object.keys(exprs).filter((k) => !exprs[k].op.startsWith('attr')),
      ...Object.keys(exprs).filter((k) => exprs[k].op.startsWith('attr')),
    ];
    order.forEach((k, j) =>
      assert.equal(
        evaluate(exprs[k], { ev, tMs: Date.parse(T), refs, attributes }),
        sql[j],
        `${k}: ${toSql(exprs[k], String)}`,
      ),
    );
  });
});
