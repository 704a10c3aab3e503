/**
 * The live demo source: synthetic events appended day by day up to the present, so a scheduled run on the bundled
 * sample (whose file ends in 2024-05) has fresh data and observed outcomes one horizon back, as a real feed would.
 *
 * Each day's events are a pure function of (seed, day): every user keeps one latent intent (drawn from the seed
 * and the user's number), visits on a given day with a chance that grows with it, and each visit is a session of
 * the same generator as the bundled file (data/generator.ts, sessionLines). The file is appended whole days only,
 * and `<file>.json` records the last day appended and the file's size then, so generating again for a day appends
 * nothing, and a crash in the middle of an append is cut back before the next one (nothing is loaded in between:
 * extraction runs after this, in the same activity).
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, truncateSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { deriveSeed, mulberry32, normal } from '../ml/random';
import { GENERATED_HEADER, sessionLines } from './generator';
import { writeJsonAtomic } from '../infra/atomic';

export interface LiveSpec {
  seed: number;
  /** Users u000000 … (the bundled sample's ids): the same people keep coming back. */
  users: number;
  /** The first day generated (UTC date). */
  from: string;
  /** Scales every user's chance of a visit on a day. */
  engagement?: number;
}

const DAY = 86_400_000;
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** One day's events (CSV lines without header), users in id order, each user's events in time order. */
export function liveDayLines(spec: LiveSpec, dayStart: number): string[] {
  const width = Math.max(6, String(spec.users).length);
  const counts: Record<string, number> = { view: 0, addtocart: 0, transaction: 0 };
  const lines: string[] = [];
  const dayIndex = Math.floor(dayStart / DAY);
  for (let u = 0; u < spec.users; u++) {
    const z = normal(mulberry32(deriveSeed(spec.seed, u)));
    // The whole-period generator's mean gap between sessions (days), read as a daily visit chance: engaged users
    // come back more often, and they cart and buy more (sessionLines), so behaviour predicts purchases.
    const meanGap = 14 / (0.5 + 2 * sigmoid(z));
    const rng = mulberry32(deriveSeed(deriveSeed(spec.seed, dayIndex), u));
    if (rng() >= Math.min(1, (0.5 * (spec.engagement ?? 1)) / meanGap)) continue;
    const uid = `u${String(u).padStart(width, '0')}`;
    // An evening peak, as in the generator: hours 12–23 mostly.
    const hour = Math.min(23, Math.max(0, Math.floor(18 + normal(rng) * 3)));
    const t = dayStart + hour * 3_600_000 + Math.floor(rng() * 3_600_000);
    const sid = `${uid}-d${new Date(dayStart).toISOString().slice(0, 10).replace(/-/g, '')}`;
    const s = sessionLines(rng, { uid, sid, z, t, items: 5000, fmt: 'iso', cartedRecently: 0 }, counts);
    lines.push(...s.lines);
  }
  return lines;
}

interface LiveState {
  /** The last day appended (YYYY-MM-DD). */
  through: string;
  /** The file's size once that day was appended. */
  bytes: number;
}

export interface LiveAppend {
  file: string;
  /** Days appended now (0 when the file was already up to date). */
  days: number;
  events: number;
  /** The last complete day in the file. */
  through: string | null;
}

/**
 * Appends to `file` every whole day from `spec.from` (or the day after the last one appended) that ended at or
 * before `until`. Idempotent: the same `until` twice appends nothing the second time.
 */
export async function appendLiveDays(
  file: string,
  spec: LiveSpec,
  until: Date,
  /** Stops between months (a cancelled activity); what was appended is recorded, so the next call resumes. */
  signal?: AbortSignal,
): Promise<LiveAppend> {
  mkdirSync(dirname(file), { recursive: true });
  const stateFile = `${file}.json`;
  const saved: LiveState | null = existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, 'utf8')) : null;
  const state = saved && existsSync(file) ? saved : null;
  if (!state) {
    closeSync(openSync(file, 'w'));
    append(file, GENERATED_HEADER + '\n');
  } else if (statSync(file).size > state.bytes) truncateSync(file, state.bytes); // a crashed append
  const first = state ? Date.parse(state.through) + DAY : Date.parse(spec.from);
  const end = Math.floor(until.getTime() / DAY) * DAY; // whole days that ended at or before `until`
  let days = 0;
  let events = 0;
  let through = state?.through ?? null;
  for (let day = first; day < end;) {
    // A month at a time; the state is recorded after each append, so a crash costs at most that month.
    let text = '';
    for (let i = 0; i < 31 && day < end; i++, day += DAY) {
      const lines = liveDayLines(spec, day);
      if (lines.length) text += lines.join('\n') + '\n';
      through = new Date(day).toISOString().slice(0, 10);
      days++;
      events += lines.length;
    }
    append(file, text);
    // Between months the event loop turns, so the activity's heartbeats go out during a long catch-up.
    await new Promise((r) => setImmediate(r));
    writeJsonAtomic(stateFile, { through: through!, bytes: statSync(file).size } satisfies LiveState);
    signal?.throwIfAborted();
  }
  return { file, days, events, through };
}

function append(file: string, text: string): void {
  if (!text) return;
  const fd = openSync(file, 'a');
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}
