/**
 * Runs the CLV fit and the per-summary predictions on a worker thread: a fit evaluates the likelihood over every
 * distinct RFM summary some thousand times (seconds at millions of customers), which must not block the
 * activity worker's event loop (workflow tasks and heartbeats share it).
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fitClv, probabilityAlive, purchasesOverHorizon, type ClvModel } from './index';

export interface ClvJob {
  /** Distinct (x, t_x, T) summaries of the customers with their counts, for BG/NBD. */
  summary: { frequency: number[]; recency: number[]; T: number[]; weights: number[] };
  /** Distinct (x, m̄) of the repeat customers with their counts, for Gamma-Gamma. */
  repeat: { frequency: number[]; monetary: number[]; weights: number[] };
  options: { horizon: number; unit: 'days' | 'weeks'; annualDiscountRate: number };
}

export interface ClvJobResult {
  model: ClvModel;
  /**
   * Per distinct summary: expected purchases over the horizon, the same discounted to the cutoff (× expected
   * spend = CLV, linear in spend, so the spend is applied per customer in SQL), and P(alive).
   */
  expected: number[];
  discounted: number[];
  pAlive: number[];
}

export function runClvJob(job: ClvJob): ClvJobResult {
  const m = fitClv(
    {
      ...job.summary,
      monetary: new Float64Array(job.summary.frequency.length),
    },
    job.options,
    job.repeat,
  );
  const n = job.summary.frequency.length;
  const expected: number[] = new Array(n);
  const discounted: number[] = new Array(n);
  const pAlive: number[] = new Array(n);
  const s = job.summary;
  for (let i = 0; i < n; i++) {
    const v = purchasesOverHorizon(m, s.frequency[i], s.recency[i], s.T[i]);
    expected[i] = v.expected;
    discounted[i] = v.discounted;
    pAlive[i] = probabilityAlive(m.bgnbd.params, s.frequency[i], s.recency[i], s.T[i]);
  }
  return { model: m, expected, discounted, pAlive };
}

/** The job on a worker thread; its error (a fit that does not converge) comes back with its message. */
export function runClvJobOnThread(job: ClvJob): Promise<ClvJobResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(__filename, { workerData: job });
    w.once('message', (m: { ok: ClvJobResult } | { error: string; name: string }) => {
      if ('ok' in m) resolve(m.ok);
      else reject(Object.assign(new Error(m.error), { name: m.name }));
    });
    w.once('error', reject);
    w.once('exit', (code) => code !== 0 && reject(new Error(`the CLV thread exited with code ${code}`)));
  });
}

if (!isMainThread && parentPort) {
  try {
    parentPort.postMessage({ ok: runClvJob(workerData as ClvJob) });
  } catch (e) {
    parentPort.postMessage({ error: (e as Error).message, name: (e as Error).name });
  }
}
