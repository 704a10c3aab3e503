import { z } from 'zod';
import { columnName } from './common';

/**
 * Where a canonical field comes from: a column of the source file, a constant, or a product of two numeric
 * columns (Online Retail's revenue is Quantity × UnitPrice). Deliberately not free SQL: definitions must
 * never carry SQL text.
 */
export const fieldSource = z.union([
  columnName,
  z.object({ column: columnName }).strict(),
  z.object({ constant: z.string().max(256) }).strict(),
  z.object({ product: z.tuple([columnName, columnName]) }).strict(),
]);
export type FieldSource = z.infer<typeof fieldSource>;

export const fileFormat = z.enum(['csv', 'tsv', 'parquet', 'json', 'ndjson']);

const fileSource = {
  /** A file path or glob, relative to the definition file's folder. */
  path: z.string().min(1).max(1024),
  /** Inferred from the extension (`.csv`, `.tsv`, `.parquet`, `.json`, `.ndjson`, `.jsonl`, with or without `.gz`). */
  format: fileFormat.optional(),
  /** CSV delimiter when it is not a comma (`"\t"`, `";"`, `"|"`); `"whitespace"` for runs of spaces (CDNOW). */
  delimiter: z
    .string()
    .min(1)
    .max(10)
    .refine((d) => d === 'whitespace' || Buffer.byteLength(d) <= 4, {
      message: 'a delimiter is at most 4 bytes (what DuckDB reads), or "whitespace"',
    })
    .optional(),
  /** Whether the CSV file has a header row; without one, columns are named column0, column1, … */
  header: z.boolean().default(true),
  /** Timestamp format: `auto`, `epoch_ms`, `epoch_s`, or a strptime pattern such as `%m/%d/%Y %H:%M`. */
  timestampFormat: z.string().max(64).default('auto'),
};

export const eventsSource = z
  .object({
    ...fileSource,
    columns: z
      .object({
        user_id: fieldSource,
        ts: fieldSource,
        event: fieldSource,
        item_id: fieldSource.optional(),
        revenue: fieldSource.optional(),
        session_id: fieldSource.optional(),
        /** Extra columns kept as free properties (JSON). */
        properties: z.array(columnName).max(64).default([]),
      })
      .strict(),
    /**
     * Event rewrites applied before validation, e.g. Online Retail invoices starting with `C` are returns:
     * `[{ "when": { "column": "InvoiceNo", "startsWith": "C" }, "event": "return" }]`.
     */
    eventRules: z
      .array(
        z
          .object({
            when: z.object({ column: columnName, startsWith: z.string().min(1).max(64) }).strict(),
            event: z.string().min(1).max(64),
          })
          .strict(),
      )
      .max(16)
      .default([]),
    /** When set, events of any other type are quarantined as `unknown event type`. */
    eventTypes: z.array(z.string().min(1).max(64)).max(256).optional(),
    /**
     * Drop exact duplicate events (same user, time, event, item, revenue, session and properties). Turn off for
     * sources that legitimately repeat identical rows (CDNOW logs two equal purchases on one day as two rows).
     */
    dedupe: z.boolean().default(true),
    /** Event types whose revenue may be negative (returns, refunds). Elsewhere negative revenue is quarantined. */
    negativeRevenueEvents: z.array(z.string().min(1).max(64)).max(16).default([]),
    /**
     * A live demo feed (data/live.ts): synthetic events generated per day from `seed` for users u000000 … and
     * appended, whole days up to a scheduled run's time, to `<home>/live/<pipeline>/events.csv`, which extraction
     * loads after `path`. Same seed, same days, same events. The bundled sample uses it so schedules have fresh data.
     */
    live: z
      .object({
        seed: z.number().int().nonnegative(),
        users: z.number().int().positive().max(1_000_000),
        from: z.string().date(),
        engagement: z.number().positive().max(100).default(1),
      })
      .strict()
      .optional(),
  })
  .strict();
export type EventsSource = z.infer<typeof eventsSource>;

export const customersSource = z
  .object({
    ...fileSource,
    columns: z
      .object({
        user_id: fieldSource,
        /** Attribute columns used as features; string attributes are one-hot encoded (top categories). */
        attributes: z.array(columnName).max(64).default([]),
        /** Columns that identify a person (e-mail, name): never exported unless listed in export.allowPii. */
        pii: z.array(columnName).max(64).default([]),
        /**
         * When each row's attributes became true (parsed with `timestampFormat`). A user may have several rows;
         * features at a cutoff T use the latest row valid before T, so an attribute set later never leaks back.
         */
        validFrom: fieldSource.optional(),
      })
      .strict(),
    /**
     * Declares that the attributes never change (e.g. a sign-up country), so the same values are used at every
     * cutoff. Required, instead of `columns.validFrom`, to use attributes as features; the report says so.
     */
    static: z.boolean().default(false),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.columns.attributes.length && c.columns.validFrom === undefined && !c.static)
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['columns', 'validFrom'],
        message:
          'customer attributes used as features must be point-in-time: map "validFrom" to the column saying when each row became true, or set "static": true if the attributes never change',
      });
    if (c.columns.validFrom !== undefined && c.static)
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['static'],
        message: 'attributes with a "validFrom" column are not static: remove "static" or "validFrom"',
      });
  });
export type CustomersSource = z.infer<typeof customersSource>;

export const labelsSource = z
  .object({
    ...fileSource,
    columns: z
      .object({
        user_id: fieldSource,
        /** When the outcome happened (parsed with `timestampFormat`): a run at cutoff T uses the labels in [T, T + horizon). */
        ts: fieldSource,
        /** 1/0, true/false or yes/no. */
        label: fieldSource,
      })
      .strict(),
  })
  .strict();
export type LabelsSource = z.infer<typeof labelsSource>;

export const sources = z
  .object({
    events: eventsSource,
    customers: customersSource.optional(),
    labels: labelsSource.optional(),
  })
  .strict();
export type Sources = z.infer<typeof sources>;
