/**
 * POST /v1/score: requests are queued and computed in micro-batches (the requests read in one turn of the event
 * loop), each request's features from the shared feature declarations (serve/online.ts), one call of the model per
 * batch. A batch is bound to the snapshot its requests started on, so a champion switch never mixes versions inside
 * a response.
 */
import { durationMs } from '../pipelines/schema';
import { columnSafe } from '../warehouse/names';
import type { PipelineDefinition } from '../pipelines/schema';
import type { OnlineRequest } from './online';
import type { ServingState } from './state';
import type { ScoringData } from '../ml/scorer';
import { featurePhrase, phraseText, reasonValueColumn } from '../segments/dictionary';

/** A reason as the lists write it (segments/lists.ts reasonPhraseSql renders the same template in SQL). */
export function reasonWords(def: PipelineDefinition, name: string, features: Record<string, number>): string {
  const p = featurePhrase(name, def);
  const value = features[reasonValueColumn(name)];
  if (!p || value === undefined) return name;
  return phraseText(p, value, { tenureDays: features.tenure_days, stages: def.features.funnel });
}

export interface OnlineScore {
  userId: string;
  propensity: number;
  churnRisk: number | null;
  /** The top-3 reasons in the words GET …/score and the lists use (segments/dictionary.ts). */
  reasons: string[];
  /** The same reasons as the model names them, with the user's value. */
  reasonFeatures: { feature: string; value: number }[];
  features: Record<string, number>;
  modelVersion: string;
  asOf: string;
}

interface Pending {
  req: OnlineRequest;
  resolve: (s: OnlineScore | null) => void;
  reject: (e: unknown) => void;
}

const MAX_BATCH = 256;

export class OnlineScorer {
  private pending: Pending[] = [];
  private running = false;

  constructor(
    private readonly state: ServingState,
    private readonly def: PipelineDefinition,
    /** Told each batch's size (the /metrics histogram: how well requests coalesce). */
    private readonly onBatch?: (size: number) => void,
  ) {}

  /** The user's score from history + the request's events; null when the user has no events at all. */
  score(req: OnlineRequest): Promise<OnlineScore | null> {
    return new Promise((resolve, reject) => {
      this.pending.push({ req, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.pending.length) {
        // The requests read in the same turn join the batch: one model call for all of them. (The batch feature SQL
        // this replaced cost ~40 ms per run and waited 5 ms for more requests; in memory a batch costs about what its
        // requests do, so waiting would only add latency.)
        if (this.pending.length < MAX_BATCH) await new Promise((r) => setImmediate(r));
        const batch = this.takeBatch();
        this.onBatch?.(batch.length);
        try {
          const out = this.scoreBatch(batch.map((p) => p.req));
          batch.forEach((p, i) => p.resolve(out[i]));
        } catch (e) {
          batch.forEach((p) => p.reject(e));
        }
      }
    } finally {
      this.running = false;
    }
  }

  /** The oldest queued requests, up to MAX_BATCH (each is computed at its own as-of time). */
  private takeBatch(): Pending[] {
    return this.pending.splice(0, MAX_BATCH);
  }

  private scoreBatch(reqs: OnlineRequest[]): (OnlineScore | null)[] {
    const s = this.state;
    const { x, rowOf } = s.online.compute(reqs);
    const ids = Array.from({ length: x.nRows }, (_, i) => String(i));
    const d = { x, ids };
    const p = x.nRows ? s.model.predict(d) : new Float64Array(0);
    const ex = x.nRows ? s.model.explain?.(d, 3) : undefined;
    const churn = s.churnModel && x.nRows ? this.churnRisk(d) : null;
    return reqs.map((r, k) => {
      const i = rowOf[k];
      if (i == null) return null;
      const features = Object.fromEntries(x.names.map((n, j) => [n, x.columns[j][i]]));
      return {
        userId: r.userId,
        propensity: p[i],
        churnRisk: churn && !Number.isNaN(churn[i]) ? churn[i] : null,
        reasons: (ex?.names[i] ?? []).filter((f) => f).map((f) => reasonWords(this.def, f, features)),
        reasonFeatures: (ex?.names[i] ?? []).map((f) => ({ feature: f, value: features[reasonValueColumn(f)] ?? NaN })),
        features,
        modelVersion: s.version,
        asOf: new Date(r.asOf).toISOString(),
      };
    });
  }

  /** Churn risk for the customers at as-of, by the rule the batch scoring uses (activities/score.ts). */
  private churnRisk(d: ScoringData) {
    const spec = this.def.churn;
    const out = new Float64Array(d.x.nRows).fill(NaN);
    if (!spec || !this.state.churnModel) return out;
    const c = columnSafe(spec.customersOf ?? this.def.label.event);
    const n = d.x.names.indexOf(`n_${c}_total`);
    const since = d.x.names.indexOf(`days_since_last_${c}`);
    if (n < 0 || since < 0) return out;
    const within = durationMs(spec.within) / 86_400_000;
    const q = this.state.churnModel.predict(d);
    for (let i = 0; i < d.x.nRows; i++) if (d.x.columns[n][i] > 0 && d.x.columns[since][i] <= within) out[i] = q[i];
    return out;
  }
}
