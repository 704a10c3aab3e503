import { z } from 'zod';

/**
 * The one class-weighting default, used by the definition schema, the engines and `funnelcast evaluate`. 'none'
 * because weighting only moves the scores (every engine calibrates its published probabilities either way), and
 * unweighted training is what scikit-learn does by default, so the bench compares like with like.
 */
export const DEFAULT_CLASS_WEIGHT = 'none' as const;
/** Rows the logistic baseline fits its coefficients on unless a definition says otherwise (ml/logistic). */
export const DEFAULT_LOGISTIC_MAX_ROWS = 100_000;
/**
 * Bootstrap rows per tree (scikit-learn's max_samples) unless a definition says otherwise ('auto'): tables up to
 * DEFAULT_MAX_SAMPLES rows are drawn in full as before; above it each tree draws DEFAULT_MAX_SAMPLES or
 * DEFAULT_MAX_SAMPLES_FRACTION of the rows, whichever is more. 100k per tree: on the 1 M-event table (241k training
 * rows) the holdout AUC was 0.9384 at 100k vs 0.9370 drawing every row, 0.9317 at 50k, at 12 CPU-s per 100-tree
 * forest instead of 20. A fixed 100k is too few on larger tables: on the 10 M-event table (2.44 M training rows,
 * 4 % per tree) the AUC fell to 0.941 against scikit-learn's 0.9465 on every row (issue 17), hence the fraction.
 */
export const DEFAULT_MAX_SAMPLES = 100_000;
export const DEFAULT_MAX_SAMPLES_FRACTION = 0.1;
/**
 * Majority-class downsampling ('auto', ml/downsample): training sets above DEFAULT_DOWNSAMPLE_ABOVE rows (where
 * 'auto' per-tree draws start to grow with the table) keep every minority row and at most DEFAULT_MAJORITY_RATIO
 * majority rows per minority row; the probabilities are corrected back. On the 10 M-event table (2.58 M training
 * rows, 4,470 buyers; scikit-learn's forest on every row: holdout ROC AUC 0.9425) our holdout forest reached 0.9419
 * on every row in 22.5 CPU-s and 0.9423 at ratio 100 in 8.2 CPU-s (ratio 50: 0.9421, 20: 0.9424); PR AUC 0.092 →
 * 0.089 (50: 0.086, 20: 0.081); expected conversions on the holdout 1,260 on every row, 1,234 at 100 (20: 1,113)
 * against 1,116 observed. Ratio 100 keeps the most of the majority at the same cost (a tree draws 100,000 rows).
 */
export const DEFAULT_DOWNSAMPLE_ABOVE = 1_000_000;
export const DEFAULT_MAJORITY_RATIO = 100;
const classWeight = z.enum(['none', 'balanced']).default(DEFAULT_CLASS_WEIGHT);

/** Hyper-parameters of our histogram random forest (ml/forest). Bounds keep hostile configs from exhausting the machine. */
export const forestParams = z
  .object({
    nTrees: z.number().int().min(1).max(2000).default(100),
    maxDepth: z.number().int().min(1).max(64).default(12),
    minSamplesLeaf: z.number().int().min(1).max(1_000_000).default(5),
    minSamplesSplit: z.number().int().min(2).max(1_000_000).default(10),
    /** Features tried per split: 'sqrt', 'log2', a fraction in (0,1], or a count. */
    maxFeatures: z.union([z.enum(['sqrt', 'log2']), z.number().positive().max(10_000)]).default('sqrt'),
    criterion: z.enum(['gini', 'entropy']).default('gini'),
    classWeight,
    bootstrap: z.boolean().default(true),
    maxBins: z.number().int().min(2).max(255).default(255),
    /**
     * Bootstrap rows per tree: a fraction of the training rows when ≤ 1, a count above; null = every row; 'auto' =
     * every row up to 100k, else the larger of 100k and 10 % of the rows (DEFAULT_MAX_SAMPLES).
     */
    maxSamples: z
      .union([z.literal('auto'), z.number().positive().max(1e9)])
      .nullable()
      .default('auto'),
    /**
     * Majority-class downsampling: keep every row of the rarer class and at most this many of the other per such
     * row (a seeded draw), probabilities corrected back to the whole population; null = every row; 'auto' = 100
     * on training sets above 1,000,000 rows (DEFAULT_MAJORITY_RATIO), every row below.
     */
    downsampleMajority: z
      .union([z.literal('auto'), z.number().min(1).max(1e6)])
      .nullable()
      .default('auto'),
  })
  .strict();

/**
 * Hyper-parameters of our histogram gradient boosting (ml/boosted), named after their LightGBM counterparts in the
 * comments so a practitioner can carry settings over. Defaults are LightGBM's where one exists.
 */
export const boostedParams = z
  .object({
    /** Boosting rounds at most (num_iterations); early stopping usually ends sooner. */
    nRounds: z.number().int().min(1).max(10_000).default(500),
    learningRate: z.number().positive().max(1).default(0.1),
    /** Leaves per tree (num_leaves): trees grow leaf-wise, best split first. */
    numLeaves: z.number().int().min(2).max(4096).default(31),
    /** Depth limit (max_depth); 0 = none, the leaf limit alone. */
    maxDepth: z.number().int().min(0).max(64).default(0),
    /** L2 regularisation of leaf values (lambda_l2). */
    l2: z.number().min(0).max(1e6).default(0),
    minDataInLeaf: z.number().int().min(1).max(1_000_000).default(20),
    /** min_sum_hessian_in_leaf */
    minHessianInLeaf: z.number().min(0).max(1e6).default(1e-3),
    minGainToSplit: z.number().min(0).max(1e6).default(0),
    /** Share of rows drawn (without replacement) for each round (bagging_fraction with bagging_freq 1). */
    rowSubsample: z.number().positive().max(1).default(1),
    /** Share of features drawn for each tree (feature_fraction). */
    featureSubsample: z.number().positive().max(1).default(1),
    maxBins: z.number().int().min(2).max(255).default(255),
    classWeight,
    /** Stop when the validation log loss has not improved for this many rounds (0: never stop early). */
    earlyStoppingRounds: z.number().int().min(0).max(10_000).default(20),
    /** Share of the training rows held out (stratified, by seed) for early stopping; 0 = none. */
    validationFraction: z.number().min(0).max(0.5).default(0.1),
    /** Save the trees every this many rounds, so a killed worker resumes there. */
    checkpointEvery: z.number().int().min(1).max(10_000).default(10),
  })
  .strict();

export const logisticParams = z
  .object({
    l2: z.number().min(0).max(1e6).default(1),
    maxIter: z.number().int().min(1).max(10_000).default(200),
    classWeight,
    /** Rows the coefficients are fitted on (a stratified sample above it; the calibration sees every row). */
    maxRows: z.number().int().min(1000).max(100_000_000).default(DEFAULT_LOGISTIC_MAX_ROWS),
    /**
     * Majority-class downsampling, as the forest's (ml/downsample): 'auto' = 100 majority rows per minority row
     * on training sets above 1,000,000 rows; null = every row. On the 10 M-event table (2.58 M training rows) the
     * baseline's holdout ROC AUC / PR AUC / log loss went from 0.9391 / 0.0778 / 0.00919 on every row to 0.9403 /
     * 0.0832 / 0.00910 at ratio 100 (expected ÷ observed conversions 1.056 → 1.038), its fit from 13.6 to 6.0 CPU-s.
     */
    downsampleMajority: z
      .union([z.literal('auto'), z.number().min(1).max(1e6)])
      .nullable()
      .default('auto'),
  })
  .strict();

export const lstmParams = z
  .object({
    units: z.number().int().min(1).max(512).default(32),
    layers: z.number().int().min(1).max(2).default(1),
    embeddingDim: z.number().int().min(1).max(256).default(8),
    epochs: z.number().int().min(1).max(500).default(10),
    batchSize: z.number().int().min(1).max(8192).default(256),
    learningRate: z.number().positive().max(1).default(0.005),
    patience: z.number().int().min(0).max(100).default(3),
    /**
     * At most this many sequences train the LSTM: a stratified sample (the conversion rate kept, so probabilities
     * need no correction) when there are more. Scoring still covers every user. 200,000 sequences × 10 epochs take
     * a few minutes on tfjs-node; the whole of a 4-million-user table would take hours for little gain.
     */
    maxTrainSequences: z.number().int().min(1_000).max(100_000_000).default(200_000),
  })
  .strict();

export const modelSpec = z
  .object({
    /**
     * forest = ours (default); mlrf = ml-random-forest (reference); logistic = baseline; lstm = the sequence model
     * (TensorFlow.js); blend = the mean log-odds of `blend.parts` (the forest and the LSTM unless given); auto = cross-validate
     * `auto.candidates` on the run's folds and train the best by the registry's primary metric; boosted =
     * gradient-boosted trees (ml/boosted).
     */
    engine: z.enum(['forest', 'mlrf', 'logistic', 'lstm', 'blend', 'auto', 'boosted']).default('forest'),
    auto: z
      .object({
        /** Tried in this order (earlier wins a tie); the first always runs, later ones while the budget lasts. */
        candidates: z
          .array(z.enum(['forest', 'logistic', 'mlrf', 'lstm', 'boosted']))
          .min(2)
          .max(6)
          .refine((c) => new Set(c).size === c.length, 'candidates must be different engines')
          .default(['forest', 'boosted', 'logistic']),
        /** Wall-clock budget for trying candidates (minutes of workflow time). */
        budgetMinutes: z
          .number()
          .min(1)
          .max(24 * 60)
          .default(120),
      })
      .strict()
      .default({}),
    blend: z
      .object({
        /** The engines the blend averages (equal weights on their log-odds), each trained on the same rows. */
        parts: z
          .array(z.enum(['forest', 'lstm', 'boosted', 'logistic']))
          .min(2)
          .max(4)
          .refine((c) => new Set(c).size === c.length, 'blend parts must be different engines')
          .default(['forest', 'lstm']),
      })
      .strict()
      .default({}),
    /**
     * A budgeted random search over the engine's settings on the run's CV folds (ml/search.ts): trial 0 is the
     * definition's settings, the others are drawn from `space` (default: DEFAULT_SEARCH_SPACES) by `seed`; the best
     * by the primary metric trains the model. Trials start while `budgetMinutes` lasts.
     */
    search: z
      .object({
        budgetMinutes: z
          .number()
          .min(1)
          .max(24 * 60)
          .default(30),
        trials: z.number().int().min(2).max(100).default(8),
        seed: z
          .number()
          .int()
          .min(0)
          .max(2 ** 31 - 1)
          .default(1),
        space: z
          .record(
            z.string(),
            z.union([
              z.array(z.union([z.number(), z.string()])).min(1),
              z
                .object({ min: z.number(), max: z.number(), log: z.boolean().optional(), int: z.boolean().optional() })
                .strict(),
            ]),
          )
          .optional(),
      })
      .strict()
      .optional(),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(42),
    /** Fraction of users held out for the final evaluation. */
    holdout: z.number().min(0.05).max(0.5).default(0.2),
    forest: forestParams.default({}),
    boosted: boostedParams.default({}),
    logistic: logisticParams.default({}),
    lstm: lstmParams.default({}),
    /** Also train the baselines and report them beside the chosen engine. */
    baselines: z
      .array(z.enum(['logistic', 'forest', 'mlrf', 'lstm', 'boosted']))
      .max(5)
      .default(['logistic']),
  })
  .strict()
  .superRefine(checkSearch);

const SEARCHABLE: Record<string, z.ZodTypeAny> = {
  forest: forestParams,
  boosted: boostedParams,
  logistic: logisticParams,
};

/** model.search tunes forest, boosted or logistic (or auto's choice among them), inside each setting's own limits. */
function checkSearch(
  m: { engine: string; search?: { space?: Record<string, unknown> }; auto: { candidates: string[] } },
  ctx: z.RefinementCtx,
) {
  if (!m.search) return;
  const engines = m.engine === 'auto' ? m.auto.candidates.filter((e) => e in SEARCHABLE) : [m.engine];
  if (!engines.length || !engines.every((e) => e in SEARCHABLE))
    return ctx.addIssue({
      code: 'custom',
      path: ['search'],
      message: `model.search tunes forest, boosted or logistic, not ${m.engine}`,
    });
  for (const [k, d] of Object.entries(m.search.space ?? {})) {
    const values = Array.isArray(d) ? d : [(d as { min: number }).min, (d as { max: number }).max];
    const ok = engines.some((e) => values.every((v) => SEARCHABLE[e].safeParse({ [k]: v }).success));
    const r = Array.isArray(d) ? null : (d as { min: number; max: number; log?: boolean });
    if (!ok || (r && (r.min > r.max || (r.log && r.min <= 0))))
      ctx.addIssue({
        code: 'custom',
        path: ['search', 'space', k],
        message: `${k}: not a setting of ${engines.join(' or ')} with these values`,
      });
  }
}

export const cvSpec = z
  .object({
    strategy: z.enum(['kfold', 'time', 'none']).default('kfold'),
    folds: z.number().int().min(2).max(20).default(3),
  })
  .strict();

export const registrySpec = z
  .object({
    primaryMetric: z.enum(['roc_auc', 'pr_auc', 'log_loss', 'brier']).default('roc_auc'),
    /** A challenger is promoted when its primary metric is at most this much worse than the champion's. */
    tolerance: z.number().min(0).max(1).default(0.005),
    /**
     * Let a live run replace a champion that cannot be compared on its held-out rows (other features, another
     * holdout): off by default, so such a champion is only replaced by hand (`models promote`) or `--replace-incomparable`.
     */
    replaceIncomparable: z.boolean().default(false),
  })
  .strict();

export type ForestParams = z.infer<typeof forestParams>;
export type BoostedParams = z.infer<typeof boostedParams>;
export type LogisticParams = z.infer<typeof logisticParams>;
export type LstmParams = z.infer<typeof lstmParams>;
export type ModelSpec = z.infer<typeof modelSpec>;

/**
 * Whether training under `model` can read the users' event sequences (the LSTM: as the engine, a blend part, an
 * auto candidate or a baseline). The sequence table costs as much as the feature table itself at 10 M events, so
 * the features step writes it only when a model may read it.
 */
export function modelReadsSequences(model: Pick<ModelSpec, 'engine' | 'blend' | 'auto' | 'baselines'>): boolean {
  return (
    model.engine === 'lstm' ||
    (model.engine === 'blend' && model.blend.parts.includes('lstm')) ||
    (model.engine === 'auto' && model.auto.candidates.includes('lstm')) ||
    model.baselines.includes('lstm')
  );
}
export type CvSpec = z.infer<typeof cvSpec>;
export type RegistrySpec = z.infer<typeof registrySpec>;

/**
 * Drift checks before publishing (ml/drift.ts): PSI of each feature against the champion's training data, the label
 * rate and the row count (current / reference, either way); before delivery, PSI of the scores against the
 * champion's. A check at or past `block*` stops publishing (or delivery); `accept` (set by `run --accept-drift`, recorded in the champion history) lets the run go on.
 */
export const driftSpec = z
  .object({
    warnPsi: z.number().positive().default(0.1),
    blockPsi: z.number().positive().default(0.25),
    warnLabelRateRatio: z.number().min(1).default(1.5),
    blockLabelRateRatio: z.number().min(1).default(3),
    warnRowsRatio: z.number().min(1).default(1.5),
    blockRowsRatio: z.number().min(1).default(3),
    /** PSI of the score distribution before delivery (default: warnPsi / blockPsi). */
    scoreWarnPsi: z.number().positive().optional(),
    scoreBlockPsi: z.number().positive().optional(),
    accept: z.boolean().default(false),
  })
  .strict();
export type DriftSpec = z.infer<typeof driftSpec>;
