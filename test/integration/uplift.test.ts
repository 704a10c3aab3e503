/**
 * Uplift targeting and the next best action on a real Temporal dev server and DuckDB, with the generator's ground
 * truth (data/campaign-sim.ts): two campaigns sent to everyone on 2024-04-01 with half held out, "promo" raising
 * conversion in segment A and lowering it sharply in C, "banner" raising it in B and lowering it in C. A later run
 * ranks promo by uplift learnt from the measured send: its ranking must beat the propensity ranking (Qini on the
 * send's held-out users, and the true effects of the users it puts first), its predictions before send must be
 * labelled as such, and the action tree must name promo for A, banner for B and nothing for C.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NativeConnection } from '@temporalio/worker';
import { WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createWorker, type FunnelcastWorker } from '../../worker';
import { projectRoot } from '../../infra/root';
import { writeEventsCsv } from '../../data/generator';
import { withDuckDB } from '../../warehouse/db';
import { formatSummary } from '../../cli/run';
import type { RunSummary } from '../../workflows/types';
import { startTestServer, uniqueQueue, useTempHome } from '../helpers/temporal';
import { forPeople } from '../../cli/edge';

const SENT = '2024-04-01T00:00:00Z';
const LATER = '2024-05-20T00:00:00Z';
const EFFECTS = {
  promo: { A: 0.3, B: 0, C: -0.7 },
  banner: { A: 0, B: 0.3, C: -0.7 },
};

function definition(dir: string, name: string, promoRank: string): string {
  const def = JSON.parse(readFileSync(join(projectRoot(), 'pipelines', 'sample.json'), 'utf8'));
  def.name = 'uplift';
  def.sources.events.path = join(dir, 'events.csv.gz');
  def.sources.customers = {
    path: join(dir, 'customers.csv'),
    static: true,
    columns: { user_id: 'user_id', attributes: ['segment'] },
  };
  delete def.churn;
  delete def.export;
  def.cv.folds = 2;
  def.model.forest = { nTrees: 30, maxDepth: 8, minSamplesLeaf: 5 };
  def.drift = { accept: true };
  const everyone = { field: 'propensity_decile', op: 'lte', value: 10 };
  const economics = { currency: 'EUR', costPerContact: 0.1, fixedCost: 20, value: 'label_revenue' };
  def.campaigns = [
    {
      name: 'promo',
      filter: everyone,
      rankBy: promoRank,
      action: 'send the promotion',
      control: { share: 0.5 },
      economics,
    },
    { name: 'banner', filter: everyone, action: 'show the banner', control: { share: 0.5 } },
  ];
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(def));
  return file;
}

describe(
  'uplift targeting and next best action from measured sends (real Temporal + DuckDB)',
  { timeout: 1_200_000 },
  () => {
    let env: TestWorkflowEnvironment;
    let worker: FunnelcastWorker;
    let connection: NativeConnection;
    let running: Promise<void>;
    const taskQueue = uniqueQueue('uplift');
    let dir: string;
    let refused: unknown;
    let sent: RunSummary;
    let later: RunSummary;
    const segmentOf = new Map<string, string>();

    before(async () => {
      useTempHome();
      dir = mkdtempSync(join(tmpdir(), 'fc-uplift-'));
      const sim = (name: 'promo' | 'banner') => ({
        name,
        at: SENT,
        windowDays: 30,
        controlShare: 0.5,
        salt: '',
        effects: EFFECTS[name],
      });
      await writeEventsCsv(join(dir, 'events.csv.gz'), {
        users: 6000,
        seed: 12,
        days: 160,
        engagement: 4,
        campaigns: [sim('promo'), sim('banner')],
      });
      for (const l of readFileSync(join(dir, 'customers.csv'), 'utf8').trim().split('\n').slice(1)) {
        const [u, s] = l.split(',');
        segmentOf.set(u, s);
      }
      env = await startTestServer();
      connection = await NativeConnection.connect({ address: env.address });
      worker = await createWorker({ connection, taskQueue });
      running = worker.run();
      const run = (pipeline: string, cutoff: string) =>
        env.client.workflow.execute('retrainWorkflow', {
          taskQueue,
          workflowId: `test-uplift-${cutoff}-${Date.now()}`,
          args: [{ pipeline, cutoff, trigger: 'test' }],
        }).then(forPeople) as Promise<RunSummary>;
      // Before any send was measured, ranking by uplift has nothing to learn from.
      refused = await run(definition(dir, 'too-early.json', 'uplift'), SENT).catch((e: unknown) => e);
      sent = await run(definition(dir, 'sent.json', 'propensity'), SENT);
      later = await run(definition(dir, 'later.json', 'uplift'), LATER);
    });

    after(async () => {
      worker?.shutdown();
      await running;
      await connection?.close();
      await env?.teardown();
    });

    it('refuses rankBy "uplift" without a measured send, saying what is needed (bad input, not retried)', () => {
      assert.ok(refused instanceof WorkflowFailedError, String(refused));
      const cause = (refused as WorkflowFailedError).cause as { cause?: { type?: string; message?: string } };
      assert.equal(cause.cause?.type, 'InputError');
      assert.match(cause.cause!.message!, /campaigns\[0\] "promo": rankBy "uplift" needs at least one measured send/);
      assert.match(cause.cause!.message!, /control group \(control.share > 0.*measurement window \(30d\)/);
    });

    it("the uplift ranking beats the propensity ranking on the send's held-out users (Qini)", (t) => {
      const m = later.uplift!.campaigns.find((c) => c.campaign === 'promo')!;
      assert.equal(m.sends.length, 1);
      assert.ok(m.holdout.users > 500, JSON.stringify(m.holdout));
      assert.ok(m.propensityHoldout, 'the send was ranked by propensity');
      t.diagnostic(`held-out ${JSON.stringify(m.holdout)}; propensity ${JSON.stringify(m.propensityHoldout)}`);
      assert.ok(
        m.holdout.qini > m.propensityHoldout!.qini + 0.1,
        `uplift Qini ${m.holdout.qini} vs propensity ${m.propensityHoldout!.qini}`,
      );
      assert.ok(m.holdout.qini > 0.1, `and clearly better than random: ${m.holdout.qini}`);
    });

    it('ranks the list by predicted uplift: the true effects of the users it puts first beat the propensity order', async (t) => {
      const { uplift, propensity } = await withDuckDB(':memory:', async (conn) => {
        const q = async (sql: string) =>
          (await conn.runAndReadAll(sql)).getRows().map((r) => ({ u: String(r[0]), v: Number(r[1]) }));
        return {
          uplift: await q(`SELECT user_id, uplift FROM read_parquet('${later.uplift!.path}') WHERE campaign = 'promo'`),
          propensity: await q(`SELECT user_id, propensity FROM read_parquet('${later.scoring!.scoresPath}')`),
        };
      });
      // The true effect of promo on a user is their segment's (A helps, C hurts): the mean over the top 30 %.
      const effect = (u: string) => EFFECTS.promo[segmentOf.get(u) as 'A' | 'B' | 'C'];
      const top = (rows: { u: string; v: number }[]) => {
        const sorted = [...rows].sort((a, b) => b.v - a.v).slice(0, Math.floor(rows.length * 0.3));
        return sorted.reduce((s, r) => s + effect(r.u), 0) / sorted.length;
      };
      t.diagnostic(`mean true effect of the top 30 %: by uplift ${top(uplift)}, by propensity ${top(propensity)}`);
      assert.ok(top(uplift) > 0.15, `top 30 % by uplift: mean true effect ${top(uplift)}`);
      assert.ok(top(uplift) > top(propensity) + 0.1, `${top(uplift)} vs ${top(propensity)} by propensity`);
      const bySegment = (s: string) => {
        const r = uplift.filter((x) => segmentOf.get(x.u) === s);
        return r.reduce((a, x) => a + x.v, 0) / r.length;
      };
      // A's effect (+0.3 of the non-buyers) dwarfs C's (−0.7 of the few who would buy in the window anyway).
      const means = ['A', 'B', 'C'].map(bySegment);
      assert.ok(means[0] > means[1] + 0.1 && means[0] > means[2] + 0.1, `mean predicted uplift A, B, C: ${means}`);
      // The exported list is in that order.
      const list = await withDuckDB(':memory:', async (conn) =>
        (
          await conn.runAndReadAll(
            `SELECT user_id FROM read_parquet('${join(later.runDir, 'exports', 'promo.parquet')}')`,
          )
        )
          .getRows()
          .map((r) => String(r[0])),
      );
      const score = new Map(uplift.map((x) => [x.u, x.v]));
      for (let i = 1; i < list.length; i++) assert.ok(score.get(list[i - 1])! >= score.get(list[i])!, `row ${i}`);
    });

    it('predicts incremental conversions, ROI and CAC before the send, labelled as predictions', async () => {
      const f = later.uplift!.forecast.find((x) => x.campaign === 'promo')!;
      assert.equal(f.predicted, true);
      const promo = later.exports.find((e) => e.campaign === 'promo')!;
      assert.equal(f.delivered, promo.rows);
      const expected = await withDuckDB(':memory:', async (conn) =>
        Number(
          (
            await conn.runAndReadAll(
              `SELECT sum(u.uplift) FROM read_parquet('${join(later.runDir, 'assignments', 'promo.parquet')}') a
             JOIN read_parquet('${later.uplift!.path}') u ON u.user_id = a.user_id AND u.campaign = 'promo' WHERE a.arm = 'treatment'`,
            )
          ).getRows()[0][0],
        ),
      );
      assert.ok(Math.abs(f.incrementalConversions - expected) < 1e-6, `${f.incrementalConversions} vs ${expected}`);
      assert.equal(f.cost, 20 + 0.1 * promo.rows);
      assert.ok(f.cac.value !== null && Math.abs(f.cac.value - f.cost! / f.incrementalConversions) < 1e-9);
      const text = formatSummary(later, null);
      assert.match(text, /uplift +promo: T-learner trained on .* held-out Qini .* \(propensity ranking: Qini/);
      assert.match(text, /PREDICTED for the .* delivered users: .* incremental conversions.*ROI/);
      const html = readFileSync(later.reportPath!, 'utf8');
      assert.match(html, /Uplift targeting/);
      assert.match(html, /Before the send \(predictions, not measurements\)/);
    });

    it("reports the past cutoff's targeting backtests and the later run's lift over time", () => {
      const html = readFileSync(sent.reportPath!, 'utf8');
      assert.match(html, /Backtests of targeting/);
      const promo = sent.exports.find((e) => e.campaign === 'promo')!;
      assert.ok(
        html.includes(
          `<td>promo</td><td>${promo.rows.toLocaleString('en-US')}</td><td>${promo.expectedConversions.toFixed(1)}</td>`,
        ),
      );
      const laterHtml = readFileSync(later.reportPath!, 'utf8');
      assert.match(laterHtml, /Conversion lift over time/);
      assert.equal((laterHtml.match(/<circle cx=[^>]*><title>(promo|banner) 2024-04-01/g) ?? []).length, 2);
    });

    it('names the next best action per segment: promo for A, banner for B, not enough evidence for C', (t) => {
      const n = later.nextBestAction!;
      assert.ok(n, 'two campaigns were measured');
      // A leaf belongs to a generator segment when its conditions on the segment attribute admit that segment only.
      const admits = (leaf: (typeof n.segments)[number], seg: string) =>
        leaf.conditions.every((c) => {
          const m = /^attr_segment_([abc])$/.exec(c.feature);
          if (!m || (c.op !== 'le' && c.op !== 'gt') || c.value !== 0) return true;
          return (m[1] === seg.toLowerCase()) === (c.op === 'gt');
        });
      const pinned = (seg: string) =>
        n.segments.filter((l) => admits(l, seg) && ['A', 'B', 'C'].every((o) => o === seg || !admits(l, o)));
      const share = (leaves: typeof n.segments, ok: (l: (typeof n.segments)[number]) => boolean) =>
        leaves.filter(ok).reduce((a, l) => a + l.users, 0) / leaves.reduce((a, l) => a + l.users, 0);
      const words = n.segments.map((l) => `${l.segment} → ${l.best?.campaign ?? l.reason}`).join(' | ');
      t.diagnostic(words);
      const [A, B, C] = ['A', 'B', 'C'].map(pinned);
      assert.ok(A.length && B.length && C.length, `the tree separates the three segments: ${words}`);
      assert.ok(share(A, (l) => l.best?.campaign === 'promo') >= 0.8, words);
      assert.ok(share(B, (l) => l.best?.campaign === 'banner') >= 0.8, words);
      assert.equal(
        share(C, (l) => l.best === null && /not enough evidence/.test(l.reason)),
        1,
        words,
      );
      // Evidence: each action's users and interval.
      const a = A.find((l) => l.best)!.actions.find((x) => x.campaign === 'promo')!;
      assert.ok(a.treatment > 500 && a.control > 500 && a.lift.low > 0, JSON.stringify(a));
      assert.match(readFileSync(later.reportPath!, 'utf8'), /Next best action per segment/);
      assert.match(formatSummary(later, null), /next best .*segment [abc]: (yes|no).*(promo|banner)/);
    });
  },
);
