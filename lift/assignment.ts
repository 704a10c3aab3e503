/**
 * Control-group assignment: a user is in a campaign's control group when a salted hash of (campaign, user) falls
 * below the control share. Being a pure function of those three values, a re-run of the run assigns the same
 * users, and one user keeps their arm across runs of one campaign (a user who was held out last week is held out
 * again, so repeated sends never leak into the control group). The SQL form gives the same number as the
 * TypeScript form (tested), so lists built in DuckDB and the generator's ground truth agree.
 */
import { createHash } from 'node:crypto';

/** What is hashed: the salt and the campaign keep assignments independent between campaigns. */
const hashInput = (salt: string, campaign: string, user: string) =>
  `control\u001f${salt}\u001f${campaign}\u001f${user}`;

/** The user's position in [0, 1) for this campaign: the first 32 bits of the sha256. */
export function assignmentFraction(salt: string, campaign: string, user: string): number {
  const hex = createHash('sha256')
    .update(hashInput(salt, campaign, user))
    .digest('hex');
  return parseInt(hex.slice(0, 8), 16) / 2 ** 32;
}

export function isControl(share: number, salt: string, campaign: string, user: string): boolean {
  return share > 0 && assignmentFraction(salt, campaign, user) < share;
}

/**
 * The same fraction as a DuckDB expression over the user id column `userCol`; salt and campaign are bound as
 * parameters `$<prefix>salt` and `$<prefix>campaign` (values in `params`).
 */
export function assignmentFractionSql(
  userCol: string,
  salt: string,
  campaign: string,
  prefix = 'ctl_',
): { sql: string; params: Record<string, string> } {
  const input = `'control' || chr(31) || $${prefix}salt || chr(31) || $${prefix}campaign || chr(31) || ${userCol}`;
  return {
    sql: `(CAST(('0x' || substr(sha256(${input}), 1, 8)) AS UBIGINT) / 4294967296.0)`,
    params: { [`${prefix}salt`]: salt, [`${prefix}campaign`]: campaign },
  };
}
