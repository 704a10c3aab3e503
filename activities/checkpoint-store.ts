/**
 * Training checkpoints in the artifact store, so the retry of a fold on another worker resumes where the lost
 * attempt stopped instead of starting over (with FUNNELCAST_STORE set; without it the checkpoint folder is on the
 * one machine every attempt runs on). The forest's `tree-NNNNN.json` and the boosted engine's `chunk-NNNNNN.json`
 * are written once each, atomically, so a file is put once and never changes. They live under
 * `checkpoints/<key of the folder>`, outside `runs/`, so the store boundary never copies them into a run folder,
 * and are deleted when the fold's result is written.
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../infra/atomic';
import { joinKey, type ArtifactStore, type StoreBoundary } from '../store';
import { boundaryFromEnv } from './store-boundary';

const CHECKPOINT_FILE = /^[\w-]+\.json$/; // not the `.tmp-…` names of a write in progress

export class CheckpointSync {
  private readonly stored = new Set<string>();
  private inFlight: Promise<void> | null = null;
  private lastUpload = 0;

  constructor(
    private readonly boundary: StoreBoundary & { store: ArtifactStore },
    readonly dir: string,
    readonly prefix: string,
    private readonly everyMs = 2_000,
  ) {}

  /** The sync for a checkpoint folder under this worker's home; null without a shared store. */
  static forDir(dir: string): CheckpointSync | null {
    const b = boundaryFromEnv();
    const key = b.keyOf(dir);
    return hasStore(b) && key ? new CheckpointSync(b, dir, joinKey('checkpoints', key)) : null;
  }

  /** Copies into the folder the checkpoint files an earlier attempt (on any worker) stored. */
  async restore(): Promise<number> {
    let restored = 0;
    mkdirSync(this.dir, { recursive: true });
    for (const key of await this.boundary.store.list(`${this.prefix}/`)) {
      const name = key.slice(this.prefix.length + 1);
      this.stored.add(name);
      if (existsSync(join(this.dir, name))) continue;
      const got = await this.boundary.store.get(key);
      if (!got) continue;
      writeFileAtomic(join(this.dir, name), got.body);
      restored++;
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
  async upload(): Promise<void> {
    const names = existsSync(this.dir) ? readdirSync(this.dir).filter((n) => CHECKPOINT_FILE.test(n)) : [];
    for (const name of names.sort()) {
      if (this.stored.has(name)) continue;
      await this.boundary.putFile(joinKey(this.prefix, name), join(this.dir, name));
      this.stored.add(name);
    }
  }

  /** Waits for an upload in progress, then puts what is left (an attempt that stops keeps its trees). */
  async flush(): Promise<void> {
    await this.inFlight;
    await this.upload();
  }

  /** The fold's result is written: its checkpoint is of no further use anywhere. */
  async finish(): Promise<void> {
    await this.inFlight;
    for (const key of await this.boundary.store.list(`${this.prefix}/`)) await this.boundary.store.delete(key);
  }
}

const hasStore = (b: StoreBoundary): b is StoreBoundary & { store: ArtifactStore } => b.store !== null;
