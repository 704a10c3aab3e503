/**
 * Ground truth for measuring campaigns: the generator can simulate one delivered campaign with a known effect per
 * segment. Every user belongs to a segment (by a hash of their id, equal shares, in the order the effects are
 * given) and is in the campaign's control group exactly when funnelcast's assignment (lift/assignment.ts) puts
 * them there, so a list funnelcast builds for a campaign of the same name and salt splits the same way.
 *
 * Each user has two potential outcomes over the window [at, at + window): y0, whether they made a purchase
 * without the campaign (the behavioural simulation as it is), and y1, with it. An effect e > 0 makes a user who
 * would not have bought buy with probability e (a purchase is added in the window); e < 0 makes a user who would
 * have bought not buy with probability −e (their purchases in the window are removed); 0 changes nothing. Only
 * treatment users get y1; both outcomes of every user are written to the truth file, so a test knows the true
 * lift of any group of users (mean of y1 − y0), not just its expectation. Draws come from a hash of (seed, user),
 * never from the main random stream, so the events of other users are byte-identical to a run without a campaign.
 */
import { createHash } from 'node:crypto';
import { isControl } from '../lift/assignment';

export interface SimulatedCampaign {
  /** The campaign's name in the pipeline definition (it salts the control assignment). */
  name: string;
  /** When the campaign was sent: the cutoff of the run that made its list (ISO). */
  at: string;
  windowDays: number;
  controlShare: number;
  salt: string;
  /** Segment name → absolute effect on the chance of buying in the window (e.g. {A: 0.1, B: 0, C: -0.05}). */
  effects: Record<string, number>;
}

export interface TruthRow {
  user: string;
  segment: string;
  arm: 'treatment' | 'control';
  y0: number;
  y1: number;
}

const DAY = 86_400_000;

/** Uniform draws in [0, 1) from a hash of (seed, user, k): independent of the main random stream. */
function draws(seed: number, user: string): number[] {
  const h = createHash('sha256').update(`campaign-sim\u001f${seed}\u001f${user}`).digest();
  return [0, 4, 8, 12, 16].map((o) => h.readUInt32BE(o) / 2 ** 32);
}

const lineTime = (line: string) => {
  const t = line.split(',')[1];
  return /^\d+$/.test(t) ? Number(t) : Date.parse(t);
};

/**
 * Applies the campaign to one user's lines (CSV rows in time order, `transaction` = the purchase event) and
 * returns the lines as they happened and the user's truth row.
 */
export function applyCampaign(
  sim: SimulatedCampaign,
  seed: number,
  user: string,
  lines: string[],
  fmt: 'iso' | 'epoch_ms',
): { lines: string[]; truth: TruthRow } {
  const segments = Object.keys(sim.effects);
  const [uSeg, uEffect, uWhen, uAmount1, uAmount2] = draws(seed, user);
  const segment = segments[Math.min(segments.length - 1, Math.floor(uSeg * segments.length))];
  const effect = sim.effects[segment];
  const from = Date.parse(sim.at);
  const to = from + sim.windowDays * DAY;
  const inWindow = (l: string) => l.split(',')[2] === 'transaction' && lineTime(l) >= from && lineTime(l) < to;
  const y0 = lines.some(inWindow) ? 1 : 0;
  const y1 = effect > 0 ? (y0 || uEffect < effect ? 1 : 0) : effect < 0 ? (y0 && !(uEffect < -effect) ? 1 : 0) : y0;
  const arm = isControl(sim.controlShare, sim.salt, sim.name, user) ? 'control' : 'treatment';
  const truth: TruthRow = { user, segment, arm, y0, y1 };
  if (arm === 'control' || y1 === y0) return { lines, truth };
  if (y1 === 0) return { lines: lines.filter((l) => !inWindow(l)), truth };
  // An added purchase: at a uniform time in the window, a log-normal amount like the simulation's purchases.
  const t = Math.floor(from + uWhen * (to - from));
  const z = Math.sqrt(-2 * Math.log(1 - uAmount1)) * Math.cos(2 * Math.PI * uAmount2);
  const amount = Math.round(Math.exp(3.4 + 0.7 * z) * 100) / 100;
  const ts = fmt === 'iso' ? new Date(t).toISOString().replace('.000Z', 'Z') : String(t);
  const added = `${user},${ts},transaction,i0,${amount.toFixed(2)},${user}-campaign`;
  const at = lines.findIndex((l) => lineTime(l) > t);
  return { lines: at < 0 ? [...lines, added] : [...lines.slice(0, at), added, ...lines.slice(at)], truth };
}

/** "A=0.1,B=0,C=-0.05" → {A: 0.1, B: 0, C: -0.05}. */
export function parseEffects(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of text.split(',')) {
    const m = /^\s*([A-Za-z0-9_-]+)\s*=\s*(-?\d+(\.\d+)?)\s*$/.exec(part);
    if (!m) throw new Error(`effect "${part}" is not <segment>=<number>, e.g. "A=0.1,B=0,C=-0.05"`);
    const e = Number(m[2]);
    if (e < -1 || e > 1) throw new Error(`effect ${part}: an absolute change of a probability, from -1 to 1`);
    out[m[1]] = e;
  }
  return out;
}
