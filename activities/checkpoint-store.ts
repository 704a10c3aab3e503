/**
 * Training checkpoints in the artifact store, so the retry of a fold on another worker resumes where the lost
 * attempt stopped instead of starting over (with FUNNELCAST_STORE set; without it the checkpoint folder is on the
 * one machine every attempt runs on). The forest's `tree-NNNNN.json` and the boosted engine's `chunk-NNNNNN.json`
 * are written once each, atomically, so a file is stored once and never changes. They live under
 * `checkpoints/<key of the folder>`, outside `runs/`, so the store boundary never copies them into a run folder,
 * and are deleted when the fold's result is written.
 *
 * The files written since the last upload go up together, as one object (`pack-<first file>-<count>.bin`): a
 * forest writes a tree file every few tens of milliseconds, and one object per tree was one PUT and, at the end,
 * one DELETE per tree (about 100 of each per fold at 1 M events), each a request the gateway serves on the same
 * cores as the training. Uploads start at most every `everyMs` (and when an attempt stops), so a lost worker's
 * retry still resumes from what was stored up to `everyMs` before it was lost.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../infra/atomic';
import { CountingStore, joinKey, type ArtifactStore, type StoreBoundary } from '../store';
import { boundaryFromEnv } from './store-boundary';

/** Runs a checkpoint's store calls counted as `<step> checkpoints` (the step that made the sync), apart from its row. */
type Counted = <T>(f: () => Promise<T>) => Promise<T>;

function countedAs(b: StoreBoundary): Counted {
  const c = b.store instanceof CountingStore ? b.store : null;
  const label = c ? `${c.stepName() ?? '(other)'} checkpoints` : '';
  return c ? (f) => c.countingAs(label, f) : (f) => f();
}

const CHECKPOINT_FILE = /^[\w-]+\.json$/; // not the `.tmp-…` names of a write in progress
const PACK = /^pack-[\w-]+\.bin$/;

/** Files as one body: a JSON header line naming each file and its length, then their bytes in that order. */
export function packFiles(files: { name: string; body: Buffer }[]): Buffer {
  const header = JSON.stringify(files.map((f) => ({ name: f.name, bytes: f.body.length })));
  return Buffer.concat([Buffer.from(`${header}\n`), ...files.map((f) => f.body)]);
}

export function unpackFiles(pack: Buffer): { name: string; body: Buffer }[] {
  const nl = pack.indexOf(10);
  const header = JSON.parse(pack.subarray(0, nl).toString('utf8')) as { name: string; bytes: number }[];
  let at = nl + 1;
  return header.map(({ name, bytes }) => {
    if (!CHECKPOINT_FILE.test(name) || at + bytes > pack.length) throw new Error(`a damaged checkpoint pack (${name})`);
    return { name, body: pack.subarray(at, (at += bytes)) };
  });
}

export class CheckpointSync {
  private readonly stored = new Set<string>();
  private inFlight: Promise<void> | null = null;
  private lastUpload = 0;

  constructor(
    private readonly boundary: StoreBoundary & { store: ArtifactStore },
    readonly dir: string,
    readonly prefix: string,
    private readonly everyMs = 2_000,
    private readonly counted: Counted = countedAs(boundary),
  ) {}

  /** The sync for a checkpoint folder under this worker's home; null without a shared store. */
  static forDir(dir: string): CheckpointSync | null {
    const b = boundaryFromEnv();
    const key = b.keyOf(dir);
    return hasStore(b) && key ? new CheckpointSync(b, dir, joinKey('checkpoints', key)) : null;
  }

  /** Copies into the folder the checkpoint files an earlier attempt (on any worker) stored. */
  restore(): Promise<number> {
    return this.counted(() => this.restoreNow());
  }

  private async restoreNow(): Promise<number> {
    let restored = 0;
    mkdirSync(this.dir, { recursive: true });
    for (const key of await this.boundary.store.list(`${this.prefix}/`)) {
      const name = key.slice(this.prefix.length + 1);
      // A file stored on its own (by the code before packs) or a pack of files.
      if (CHECKPOINT_FILE.test(name) && existsSync(join(this.dir, name))) {
        this.stored.add(name);
        continue;
      }
      const got = await this.boundary.store.get(key);
      if (!got) continue;
      const files = PACK.test(name) ? unpackOrNothing(got.body) : [{ name, body: got.body }];
      for (const f of files) {
        this.stored.add(f.name);
        if (existsSync(join(this.dir, f.name))) continue;
        writeFileAtomic(join(this.dir, f.name), f.body);
        restored++;
      }
    }
    return restored;
  }

  /** Called on progress: starts an upload of the new files unless one runs or the last was under `everyMs` ago. */
  poke(): void {
    if (this.inFlight || Date.now() - this.lastUpload < this.everyMs) return;
    this.lastUpload = Date.now();
    // A failed upload costs only the resume on another worker; the next poke tries again.
    this.inFlight = this.upload()
      .catch(() => undefined)
      .finally(() => (this.inFlight = null));
  }

  /** Puts the checkpoint files the store does not have yet. */
  upload(): Promise<void> {
    return this.counted(() => this.uploadNow());
  }

  private async uploadNow(): Promise<void> {
    const all = existsSync(this.dir) ? readdirSync(this.dir).filter((n) => CHECKPOINT_FILE.test(n)) : [];
    const names = all.filter((n) => !this.stored.has(n)).sort();
    if (!names.length) return;
    const files = names.map((name) => ({ name, body: readFileSync(join(this.dir, name)) }));
    const key = joinKey(this.prefix, `pack-${names[0]!.replace(/\.json$/, '')}-${names.length}.bin`);
    await this.boundary.store.put(key, packFiles(files));
    for (const name of names) this.stored.add(name);
  }

  /** Waits for an upload in progress, then puts what is left (an attempt that stops keeps its trees). */
  async flush(): Promise<void> {
    await this.inFlight;
    await this.upload();
  }

  /** The fold's result is written: its checkpoint is of no further use anywhere. */
  async finish(): Promise<void> {
    await this.inFlight;
    await this.counted(() => deleteUnder(this.boundary.store, `${this.prefix}/`));
  }
}

async function deleteUnder(store: ArtifactStore, prefix: string): Promise<void> {
  for (const key of await store.list(prefix)) await store.delete(key);
}

/** A pack that cannot be read costs only its files' resume: the fit computes them again. */
function unpackOrNothing(body: Buffer): { name: string; body: Buffer }[] {
  try {
    return unpackFiles(body);
  } catch {
    return [];
  }
}

const hasStore = (b: StoreBoundary): b is StoreBoundary & { store: ArtifactStore } => b.store !== null;

/**
 * The LSTM's checkpoint, which is rewritten after every epoch (weights, Adam's moments, state.json, and the best
 * epoch's weights in `best/`): it is stored as whole epochs, `<prefix>/e<NNNNN>/<file>`, then `<prefix>/latest.json`
 * naming the epoch, written last, so a retry on any worker restores one epoch's files and never a mix of two. The
 * files are read when the epoch ends (before the next one rewrites them) and put while the next epoch trains.
 */
export class EpochCheckpointSync {
  private chain: Promise<void> = Promise.resolve();
  private storedEpoch = 0;

  constructor(
    private readonly boundary: StoreBoundary & { store: ArtifactStore },
    readonly dir: string,
    readonly prefix: string,
    private readonly counted: Counted = countedAs(boundary),
  ) {}

  /** The sync for an LSTM output folder under this worker's home; null without a shared store. */
  static forDir(dir: string): EpochCheckpointSync | null {
    const b = boundaryFromEnv();
    const key = b.keyOf(dir);
    return hasStore(b) && key ? new EpochCheckpointSync(b, dir, joinKey('checkpoints', key)) : null;
  }

  /** Writes the stored epoch's files into the folder unless it holds that epoch or a later one; returns the epoch. */
  restore(): Promise<number> {
    return this.counted(() => this.restoreNow());
  }

  private async restoreNow(): Promise<number> {
    const latest = await this.boundary.store.get(joinKey(this.prefix, 'latest.json'));
    if (!latest) return 0;
    const { epoch } = JSON.parse(latest.body.toString('utf8')) as { epoch: number };
    this.storedEpoch = epoch;
    if (localEpoch(this.dir) >= epoch) return 0;
    const from = `${joinKey(this.prefix, epochName(epoch))}/`;
    for (const key of await this.boundary.store.list(from)) {
      const got = await this.boundary.store.get(key);
      if (!got) throw new Error(`${key}: listed in the stored checkpoint of epoch ${epoch}, but gone`);
      const file = join(this.dir, ...key.slice(from.length).split('/'));
      mkdirSync(dirname(file), { recursive: true });
      writeFileAtomic(file, got.body);
    }
    return epoch;
  }

  /** Called when an epoch's files are written: reads them now, puts them after the uploads before it. */
  saved(epoch: number): void {
    let bodies: { rel: string; body: Buffer }[];
    try {
      const files = ['checkpoint', 'best'].flatMap((sub) => filesUnder(join(this.dir, sub), sub));
      bodies = files.map((rel) => ({ rel, body: readFileSync(join(this.dir, ...rel.split('/'))) }));
    } catch {
      return; // unreadable now: the next epoch's files will be stored instead
    }
    // A failed upload costs only the resume on another worker; the next epoch tries again.
    this.chain = this.chain.then(() => this.counted(() => this.put(epoch, bodies)).catch(() => undefined));
  }

  private async put(epoch: number, bodies: { rel: string; body: Buffer }[]): Promise<void> {
    const prefix = joinKey(this.prefix, epochName(epoch));
    for (const { rel, body } of bodies) await this.boundary.store.put(joinKey(prefix, rel), body);
    await this.boundary.store.put(joinKey(this.prefix, 'latest.json'), Buffer.from(JSON.stringify({ epoch })));
    const before = this.storedEpoch;
    this.storedEpoch = epoch;
    if (before && before !== epoch)
      await deleteUnder(this.boundary.store, `${joinKey(this.prefix, epochName(before))}/`);
  }

  /** Waits for the uploads in progress (an attempt that stops keeps its last whole epoch). */
  async flush(): Promise<void> {
    await this.chain;
  }

  /** The result is written: the checkpoint is of no further use anywhere. */
  async finish(): Promise<void> {
    await this.chain;
    await this.counted(() => deleteUnder(this.boundary.store, `${this.prefix}/`));
  }
}

const epochName = (epoch: number) => `e${String(epoch).padStart(5, '0')}`;

function localEpoch(dir: string): number {
  try {
    return (JSON.parse(readFileSync(join(dir, 'checkpoint', 'state.json'), 'utf8')) as { epoch: number }).epoch;
  } catch {
    return 0;
  }
}

/** Files under `dir` as `/`-joined names prefixed with `rel`, skipping a write in progress (`.tmp-…`). */
function filesUnder(dir: string, rel: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => !e.name.includes('.tmp-'))
    .flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name), `${rel}/${e.name}`) : [`${rel}/${e.name}`]));
}
