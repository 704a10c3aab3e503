/**
 * Synthetic e-commerce events shaped like RetailRocket's public dataset (1,407,580 visitors, 2,756,101 events:
 * 96.7 % views, 2.5 % add-to-cart, 0.8 % transactions; most visitors come once, a few come very often),
 * with sessions, an evening/weekend rhythm, and — unlike a plain sampler — conversion that depends on
 * behaviour: each user has a latent intent that raises their return rate, carting and buying, so features
 * computed before a cutoff predict purchases after it. Deterministic for a seed.
 *
 * Written by hand because no installed library simulates clickstreams; the output is streamed, so 10M events
 * need little memory.
 */
import { createWriteStream, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createGzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { mulberry32, normal, type Rng } from '../ml/random';
import { applyCampaign, type SimulatedCampaign, type TruthRow } from './campaign-sim';

export interface GeneratorOptions {
  users: number;
  seed: number;
  /** First day of the simulated period (UTC). */
  start?: string;
  /** Length of the period in days. */
  days?: number;
  /** Scales every user's number of sessions (the bundled sample uses a more engaged audience). */
  engagement?: number;
  /** Size of the item catalogue. */
  items?: number;
  timestampFormat?: 'iso' | 'epoch_ms';
  /**
   * Share of rows made messy the way real exports are: exact duplicate rows, and rows with a missing user id,
   * an unparseable timestamp or a negative revenue (which extraction must quarantine). 0 = clean.
   */
  messiness?: number;
  /** A delivered campaign with a known effect per segment (data/campaign-sim.ts); its truth rows go to `onTruth`. */
  campaign?: SimulatedCampaign;
  /**
   * Several campaigns (actions), applied in order, each with its own control group; give them the same segment
   * names in the same order so a user's segment is the same in all. Truth rows (`onTruth`) are the first one's.
   */
  campaigns?: SimulatedCampaign[];
  onTruth?: (t: TruthRow) => void;
}

export interface GeneratorStats {
  users: number;
  events: number;
  byEvent: Record<string, number>;
  revenue: number;
  /** Extra rows added by `messiness` (duplicates and invalid rows), on top of `events`. */
  messyRows?: number;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** Pareto-distributed count ≥ 1: the heavy tail of visits per visitor. */
function paretoCount(rng: Rng, alpha: number, cap: number): number {
  return Math.min(cap, Math.floor(1 / Math.pow(1 - rng(), 1 / alpha)));
}

/** Hour of day with an evening peak (what e-commerce traffic looks like). */
function hourOfDay(rng: Rng): number {
  const h = 20 + normal(rng) * 4.5;
  return ((Math.floor(h) % 24) + 24) % 24;
}

/** Zipf-like item popularity via inverse power transform. */
function item(rng: Rng, n: number): number {
  return Math.min(n - 1, Math.floor(n * Math.pow(rng(), 2.2)));
}

/** Where a session starts and what the user brings to it: their latent intent and whether they carted lately. */
export interface SessionStart {
  uid: string;
  sid: string;
  /** Latent intent: raises carting and buying. */
  z: number;
  /** Start time (ms). */
  t: number;
  items: number;
  fmt: 'iso' | 'epoch_ms';
  cartedRecently: number;
}

/**
 * One session's events (views, maybe add-to-carts, maybe one purchase), as CSV lines in time order. Shared by the
 * whole-period generator and the live sample's per-day source (data/live.ts), so both behave alike.
 */
export function sessionLines(
  rng: Rng,
  s: SessionStart,
  counts: Record<string, number>,
): { lines: string[]; t: number; cartedRecently: number; revenue: number } {
  const { uid, sid, z, items, fmt } = s;
  const lines: string[] = [];
  let t = s.t;
  let revenue = 0;
  const stamp = (ms: number) => (fmt === 'iso' ? new Date(ms).toISOString().replace('.000Z', 'Z') : String(ms));
  const views = 1 + Math.floor(-Math.log(1 - rng()) * (0.5 + 1.0 * sigmoid(z)));
  let carted = -1;
  for (let v = 0; v < views; v++) {
    t += Math.floor(-Math.log(1 - rng()) * 90_000);
    const it = item(rng, items);
    lines.push(`${uid},${stamp(t)},view,i${it},,${sid}`);
    counts.view++;
    if (rng() < sigmoid(-4.65 + 1.3 * z + 0.8 * s.cartedRecently)) {
      t += Math.floor(-Math.log(1 - rng()) * 30_000);
      lines.push(`${uid},${stamp(t)},addtocart,i${it},,${sid}`);
      counts.addtocart++;
      carted = it;
    }
  }
  const cartedRecently = carted >= 0 ? 1 : s.cartedRecently * 0.5;
  if (carted >= 0 && rng() < sigmoid(-1.45 + 0.9 * z)) {
    t += Math.floor(-Math.log(1 - rng()) * 120_000);
    const amount = Math.round(Math.exp(3.4 + 0.7 * normal(rng)) * 100) / 100;
    lines.push(`${uid},${stamp(t)},transaction,i${carted},${amount.toFixed(2)},${sid}`);
    counts.transaction++;
    revenue += amount;
  }
  return { lines, t, cartedRecently, revenue };
}

/**
 * Yields CSV lines (no header), one user at a time, so callers can stream them to a file. Events of a user are in
 * time order; users are in id order.
 */
export function* generateEventLines(o: GeneratorOptions, stats?: GeneratorStats): Generator<string> {
  const rng = mulberry32(o.seed);
  const start = Date.parse(o.start ?? '2024-01-01T00:00:00Z');
  const days = o.days ?? 120;
  const engagement = o.engagement ?? 1;
  const items = o.items ?? 5000;
  const fmt = o.timestampFormat ?? 'iso';
  const width = Math.max(6, String(o.users).length);
  const DAY = 86_400_000;
  const counts: Record<string, number> = { view: 0, addtocart: 0, transaction: 0 };
  const messy = o.messiness ?? 0;
  let dirty = 0;
  let revenue = 0;

  for (let u = 0; u < o.users; u++) {
    const uid = `u${String(u).padStart(width, '0')}`;
    const z = normal(rng); // latent intent
    const sessions = Math.max(1, Math.round(paretoCount(rng, 2.1, 400) * engagement * (0.6 + 0.8 * sigmoid(z))));
    const firstDay = Math.floor(rng() * days);
    // Engaged users return sooner: mean gap between sessions in days.
    const meanGap = 14 / (0.5 + 2 * sigmoid(z));
    let t = start + firstDay * DAY + hourOfDay(rng) * 3_600_000 + Math.floor(rng() * 3_600_000);
    let lines: string[] = [];
    let cartedRecently = 0;
    for (let s = 0; s < sessions; s++) {
      if (s > 0) {
        let gap = -Math.log(1 - rng()) * meanGap * DAY;
        // Weekly rhythm: sessions landing on Mon–Thu are pushed towards the weekend half the time.
        const wd = new Date(t + gap).getUTCDay();
        if (wd >= 1 && wd <= 4 && rng() < 0.25) gap += (5 - wd) * DAY;
        t += gap;
        const hour = hourOfDay(rng);
        t = Math.floor(t / DAY) * DAY + hour * 3_600_000 + Math.floor(rng() * 3_600_000);
      }
      if (t >= start + days * DAY) break;
      const r = sessionLines(rng, { uid, sid: `${uid}-s${s}`, z, t, items, fmt, cartedRecently }, counts);
      lines.push(...r.lines);
      t = r.t;
      cartedRecently = r.cartedRecently;
      revenue += r.revenue;
    }
    for (const [k, sim] of (o.campaigns ?? (o.campaign ? [o.campaign] : [])).entries()) {
      const applied = applyCampaign(sim, o.seed, uid, lines, fmt);
      // Purchases the campaign added or removed count in the stats like any other.
      const bought = (ls: string[]) => ls.filter((l) => l.split(',')[2] === 'transaction');
      const spent = (ls: string[]) => bought(ls).reduce((a, l) => a + Number(l.split(',')[4]), 0);
      counts.transaction += bought(applied.lines).length - bought(lines).length;
      revenue += spent(applied.lines) - spent(lines);
      lines = applied.lines;
      if (k === 0) o.onTruth?.(applied.truth);
    }
    for (const l of lines) {
      yield l;
      if (messy > 0 && rng() < messy) {
        const kind = rng();
        if (kind < 0.6)
          yield l; // exact duplicate (re-sent event)
        else if (kind < 0.75)
          yield l.replace(uid, ''); // no user id
        else if (kind < 0.9)
          yield l.replace(/^([^,]*),[^,]*/, '$1,not-a-time'); // broken timestamp
        else yield `${uid},${l.split(',')[1]},transaction,i0,-9.99,${uid}-x`; // negative revenue
        dirty++;
      }
    }
  }
  if (stats) {
    stats.users = o.users;
    stats.events = counts.view + counts.addtocart + counts.transaction;
    stats.messyRows = dirty;
    stats.byEvent = counts;
    stats.revenue = Math.round(revenue * 100) / 100;
  }
}

export const GENERATED_HEADER = 'user_id,timestamp,event,item_id,revenue,session_id';

/**
 * Writes generated events as CSV (gzipped when the name ends in .gz) through a temp file and a rename. Lines are
 * batched into ~1 MB chunks so the stream, not the generator, sets the pace.
 */
export async function writeEventsCsv(file: string, o: GeneratorOptions): Promise<GeneratorStats> {
  mkdirSync(dirname(file), { recursive: true });
  const stats: GeneratorStats = { users: 0, events: 0, byEvent: {}, revenue: 0 };
  const truth: string[] = [];
  const lines = generateEventLines(
    o.campaign || o.campaigns?.length
      ? { ...o, onTruth: (t) => truth.push(`${t.user},${t.segment},${t.arm},${t.y0},${t.y1}`) }
      : o,
    stats,
  );
  const chunks = Readable.from(
    (function* () {
      let buf = GENERATED_HEADER + '\n';
      for (const l of lines) {
        buf += l + '\n';
        if (buf.length > 1 << 20) {
          yield buf;
          buf = '';
        }
      }
      if (buf) yield buf;
    })(),
  );
  const tmp = `${file}.tmp-${process.pid}`;
  const out = createWriteStream(tmp);
  // Fixed gzip settings and no file name/mtime in the header, so the same seed gives the same bytes.
  if (file.endsWith('.gz')) await pipeline(chunks, createGzip({ level: 6 }), out);
  else await pipeline(chunks, out);
  renameSync(tmp, file);
  if (o.campaign || o.campaigns?.length) writeCampaignTruth(dirname(file), truth);
  return stats;
}

/**
 * Beside the events of a simulated campaign: `truth.csv` (user_id, segment, arm, y0, y1: both potential outcomes,
 * data/campaign-sim.ts) and `customers.csv` (user_id, segment: a static attribute a pipeline can load).
 */
function writeCampaignTruth(dir: string, rows: string[]): void {
  writeFileSync(join(dir, 'truth.csv'), ['user_id,segment,arm,y0,y1', ...rows, ''].join('\n'));
  const customers = rows.map((r) => r.split(',').slice(0, 2).join(','));
  writeFileSync(join(dir, 'customers.csv'), ['user_id,segment', ...customers, ''].join('\n'));
}
