/**
 * Upload formats: each list also as the file an ad or e-mail tool imports, with that tool's column names and its
 * documented normalisation, from the customers source's e-mail / phone columns (declared PII):
 * - Google Ads Customer Match: `Email`, `Phone`, SHA-256 (hex) of the normalised value; e-mail trimmed and
 *   lower-cased, dots removed before @gmail.com / @googlemail.com; phone in E.164 (`+` country code, digits).
 * - Meta custom audiences: `email`, `phone`, SHA-256 (hex); e-mail trimmed and lower-cased; phone digits only with
 *   the country code, no `+`, no leading zeros.
 * - Mailchimp (`Email Address`) and HubSpot (`Email`) import plain addresses (trimmed, lower-cased): only when the
 *   pipeline allows that column in exports (`export.allowPii`), which the schema checks.
 * With customer lifetime value (`clv` in the definition), each format that has a place for a value carries the
 * predicted CLV over the clv horizon, in the pipeline's currency, 2 decimals (empty when the model has none):
 * Meta's `value` column (value-based custom audiences and lookalikes), Mailchimp's `CLV` merge field, HubSpot's
 * `Customer lifetime value` property. Google Ads Customer Match's layout has no value column, so none is added.
 * Rows without a usable identifier are counted in the manifest, never silently dropped.
 * Each rule is written once in TypeScript (tests, documented examples) and once in SQL (the export); a test keeps
 * both identical on the vendors' examples.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { quoteIdent, quoteLiteral } from '../warehouse/db';
import { copyAtomic } from './lists';
import { csvSafeSelect } from './csv-safe';
import { sha256FileAsync } from '../registry';

export const UPLOAD_FORMATS = ['google_ads', 'meta', 'mailchimp', 'hubspot'] as const;
export type UploadFormat = (typeof UPLOAD_FORMATS)[number];

interface FormatSpec {
  email?: string;
  phone?: string;
  hashed: boolean;
  gmailDots: boolean;
  /** 'e164' = "+4420…", 'digits' = "4420…" (Meta). */
  phoneStyle: 'e164' | 'digits';
  /** The column of the customer's predicted lifetime value, where the tool has one. */
  value?: string;
}

export const FORMAT_SPECS: Record<UploadFormat, FormatSpec> = {
  google_ads: { email: 'Email', phone: 'Phone', hashed: true, gmailDots: true, phoneStyle: 'e164' },
  meta: { email: 'email', phone: 'phone', hashed: true, gmailDots: false, phoneStyle: 'digits', value: 'value' },
  mailchimp: { email: 'Email Address', hashed: false, gmailDots: false, phoneStyle: 'e164', value: 'CLV' },
  hubspot: { email: 'Email', hashed: false, gmailDots: false, phoneStyle: 'e164', value: 'Customer lifetime value' },
};

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

/** Trim, lower-case; for Google, dots removed from the local part of gmail.com / googlemail.com addresses. */
export function normaliseEmail(raw: string | null | undefined, gmailDots: boolean): string | null {
  if (raw == null) return null;
  const e = raw.trim().toLowerCase();
  if (!EMAIL.test(e)) return null;
  const at = e.lastIndexOf('@');
  const [local, domain] = [e.slice(0, at), e.slice(at + 1)];
  return gmailDots && (domain === 'gmail.com' || domain === 'googlemail.com')
    ? `${local.replace(/\./g, '')}@${domain}`
    : e;
}

/**
 * E.164: "+" and 8–15 digits. A number written with "+" or "00" carries its country code; one without gets
 * `defaultCountryCode` (its national leading zeros dropped), else it is unusable.
 */
export function normalisePhone(raw: string | null | undefined, style: 'e164' | 'digits', cc?: string): string | null {
  if (raw == null) return null;
  const t = raw.trim();
  let digits: string;
  if (t.startsWith('+')) digits = t.replace(/\D/g, '');
  else if (t.startsWith('00')) digits = t.replace(/\D/g, '').slice(2);
  else if (cc) digits = cc + t.replace(/\D/g, '').replace(/^0+/, '');
  else return null;
  digits = digits.replace(/^0+/, '');
  if (digits.length < 8 || digits.length > 15) return null;
  return style === 'e164' ? `+${digits}` : digits;
}

export const sha256Hex = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

/** The same e-mail rule as normaliseEmail, in SQL over the VARCHAR expression `x`. */
export function emailSql(x: string, gmailDots: boolean): string {
  const e = `lower(trim(${x}))`;
  const valid = `regexp_full_match(${e}, '[^@\\s]+@[^@\\s]+\\.[^@\\s]+')`;
  const domain = `regexp_extract(${e}, '@([^@]*)$', 1)`;
  const local = `regexp_extract(${e}, '^(.*)@[^@]*$', 1)`;
  const out = gmailDots
    ? `CASE WHEN ${domain} IN ('gmail.com', 'googlemail.com') THEN replace(${local}, '.', '') || '@' || ${domain} ELSE ${e} END`
    : e;
  return `CASE WHEN ${x} IS NOT NULL AND ${valid} THEN ${out} END`;
}

/** The same phone rule as normalisePhone, in SQL. */
export function phoneSql(x: string, style: 'e164' | 'digits', cc?: string): string {
  const t = `trim(${x})`;
  const d = `regexp_replace(${t}, '[^0-9]', '', 'g')`;
  const raw = `CASE WHEN starts_with(${t}, '+') THEN ${d} WHEN starts_with(${t}, '00') THEN substr(${d}, 3)
    ${cc ? `ELSE ${quoteLiteral(cc)} || ltrim(${d}, '0')` : ''} END`;
  const digits = `ltrim(${raw}, '0')`;
  const ok = `length(${digits}) BETWEEN 8 AND 15`;
  return `CASE WHEN ${x} IS NOT NULL AND ${ok} THEN ${style === 'e164' ? `'+' || ${digits}` : digits} END`;
}

export interface UploadFile {
  format: UploadFormat;
  path: string;
  rows: number;
  /** Users on the list without a usable e-mail or phone: counted, not uploaded. */
  withoutIdentifier: number;
  sha256: string;
}

/**
 * Writes `<list>.<format>.csv` from the temp table `campaign_ids (__uid[, clv])` of the list just written, reading
 * the contact columns from the latest customers row of each user; `withValue`: campaign_ids has the `clv` column.
 */
export async function writeUploads(
  conn: DuckDBConnection,
  opts: {
    outDir: string;
    list: string;
    formats: readonly UploadFormat[];
    contact: { email?: string; phone?: string; defaultCountryCode?: string };
    withValue?: boolean;
    crashBeforeRenameOf?: string;
  },
): Promise<UploadFile[]> {
  const attr = (col: string | undefined) =>
    col
      ? `(SELECT json_extract_string(attributes, ${quoteLiteral(`$."${col}"`)}) FROM customers cu WHERE cu.user_id = c.__uid ORDER BY cu.valid_from DESC NULLS LAST LIMIT 1)`
      : 'CAST(NULL AS VARCHAR)';
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE upload_contacts AS SELECT row_number() OVER () AS k, ${attr(opts.contact.email)} AS email, ${attr(opts.contact.phone)} AS phone, ${opts.withValue ? 'round(c.clv, 2)' : 'CAST(NULL AS DOUBLE)'} AS value FROM campaign_ids c`,
  );
  const out: UploadFile[] = [];
  for (const format of opts.formats) {
    const spec = FORMAT_SPECS[format];
    const cols: string[] = [];
    if (spec.email && opts.contact.email) {
      const v = emailSql('email', spec.gmailDots);
      cols.push(`${spec.hashed ? `sha256(${v})` : v} AS ${quoteIdent(spec.email)}`);
    }
    if (spec.phone && opts.contact.phone) {
      const v = phoneSql('phone', spec.phoneStyle, opts.contact.defaultCountryCode);
      cols.push(`${spec.hashed ? `sha256(${v})` : v} AS ${quoteIdent(spec.phone)}`);
    }
    if (!cols.length) continue;
    const names = cols.map((c) => c.slice(c.lastIndexOf(' AS ') + 4));
    // The value is not an identifier: a row is usable by its e-mail or phone only.
    const usable = names.map((n) => `${n} IS NOT NULL`).join(' OR ');
    if (spec.value && opts.withValue) cols.push(`value AS ${quoteIdent(spec.value)}`);
    await conn.run(`CREATE OR REPLACE TEMP TABLE upload_all AS SELECT k, ${cols.join(', ')} FROM upload_contacts`);
    const columns = cols.map((c) => c.slice(c.lastIndexOf(' AS ') + 4));
    await conn.run(
      `CREATE OR REPLACE TEMP TABLE upload_rows AS SELECT ${columns.join(', ')} FROM upload_all WHERE ${usable} ORDER BY k`,
    );
    const path = join(opts.outDir, 'exports', `${opts.list}.${format}.csv`);
    await copyAtomic(conn, await csvSafeSelect(conn, 'upload_rows'), path, 'csv', opts.crashBeforeRenameOf);
    const [rows, all] = (
      await conn.runAndReadAll(`SELECT (SELECT count(*) FROM upload_rows), (SELECT count(*) FROM upload_all)`)
    )
      .getRows()[0]
      .map(Number);
    out.push({ format, path, rows, withoutIdentifier: all - rows, sha256: await sha256FileAsync(path) });
  }
  for (const t of ['upload_contacts', 'upload_all', 'upload_rows']) await conn.run(`DROP TABLE IF EXISTS ${t}`);
  return out;
}
