/**
 * The model registry: immutable, ordered, human-readable versions (`v0007-<runId>`), each a folder with the model
 * files, metrics, lineage and a manifest holding the sha256 of every file; and a `champion.json` pointer that
 * moves last, atomically (write + rename), only when the gate passes.
 *
 * Crash safety: a version is assembled in a temp folder and renamed into `versions/` whole; the champion pointer
 * is replaced by rename. Concurrency: publishes and promotions take an exclusive lock file (O_EXCL), and version
 * numbers are allocated under it. Storage is behind `RegistryStorage` so an object store can replace the disk.
 */
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { writeJsonAtomic } from '../infra/atomic';
import { higherIsBetter } from '../ml/metrics';

/** What the registry needs from storage; the local disk implements it, an object store could too. */
export interface RegistryStorage {
  root: string;
  exists(path: string): boolean;
  readText(path: string): string;
  /** Replace a small file atomically. */
  writeJson(path: string, value: unknown): void;
  list(dir: string): string[];
  /** Publish a fully written folder under its final name in one step. */
  commitFolder(tmpDir: string, finalDir: string): void;
}

export class LocalStorage implements RegistryStorage {
  constructor(readonly root: string) {
    mkdirSync(join(root, 'versions'), { recursive: true });
  }
  exists = (p: string) => existsSync(join(this.root, p));
  readText = (p: string) => readFileSync(join(this.root, p), 'utf8');
  writeJson = (p: string, v: unknown) => writeJsonAtomic(join(this.root, p), v);
  list = (d: string) => (existsSync(join(this.root, d)) ? readdirSync(join(this.root, d)).sort() : []);
  commitFolder = (tmp: string, final: string) => renameSync(tmp, join(this.root, final));
}

export interface ManifestFile {
  path: string;
  bytes: number;
  sha256: string;
}

export interface VersionInfo {
  version: string;
  runId: string;
  createdAt: string;
  engine: string;
  primaryMetric: string;
  metrics: Record<string, unknown>;
  lineage: Record<string, unknown>;
  params: unknown;
  featureNames: string[];
}

export interface ChampionPointer {
  version: string;
  metric: string;
  value: number;
  since: string;
  reason: string;
}

export interface GateDecision {
  decision: 'promoted' | 'challenger' | 'first';
  reason: string;
}

export const sha256File = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/**
 * The champion/challenger gate: the challenger wins when its metric is no worse than the champion's (on the
 * same validation rows) by more than `tolerance`, in the metric's own direction.
 */
export function gate(
  metric: string,
  challenger: number,
  champion: number | null,
  tolerance: number,
  championVersion?: string,
): GateDecision {
  if (champion == null || !Number.isFinite(champion))
    return { decision: 'first', reason: `no champion yet: becomes champion with ${metric} ${challenger.toFixed(4)}` };
  const up = higherIsBetter(metric);
  const delta = up ? challenger - champion : champion - challenger;
  const vs = `${metric} ${challenger.toFixed(4)} vs champion ${championVersion ?? ''} ${champion.toFixed(4)} on the same validation rows, tolerance ${tolerance}`;
  return delta >= -tolerance
    ? { decision: 'promoted', reason: `promoted: ${vs}` }
    : { decision: 'challenger', reason: `kept as challenger: ${vs} (worse by ${(-delta).toFixed(4)})` };
}

export class ModelRegistry {
  readonly storage: RegistryStorage;

  constructor(root: string, storage?: RegistryStorage) {
    this.storage = storage ?? new LocalStorage(root);
  }

  get root() {
    return this.storage.root;
  }

  /** Runs fn while holding the registry lock (an O_EXCL lock file; a lock older than 10 minutes is stale). */
  async withLock<T>(fn: () => Promise<T> | T, timeoutMs = 60_000): Promise<T> {
    const lock = join(this.root, '.lock');
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        closeSync(openSync(lock, 'wx'));
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        try {
          if (Date.now() - statSync(lock).mtimeMs > 600_000) rmSync(lock, { force: true });
        } catch {
          // the holder removed it meanwhile
        }
        if (Date.now() > deadline)
          throw new Error(`registry ${this.root} is locked (${lock}); remove it if no publish is running`);
        await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
      }
    }
    try {
      return await fn();
    } finally {
      rmSync(lock, { force: true });
    }
  }

  versions(): string[] {
    return this.storage.list('versions').filter((v) => /^v\d{4,}-/.test(v));
  }

  versionDir(version: string): string {
    const v = this.versions().find((x) => x === version || x.startsWith(`${version}-`));
    if (!v)
      throw Object.assign(new Error(`no model version "${version}" in ${this.root} (see: funnelcast models list)`), {
        name: 'NotFound',
      });
    return join(this.root, 'versions', v);
  }

  info(version: string): VersionInfo {
    return JSON.parse(readFileSync(join(this.versionDir(version), 'version.json'), 'utf8')) as VersionInfo;
  }

  champion(): ChampionPointer | null {
    return this.storage.exists('champion.json')
      ? (JSON.parse(this.storage.readText('champion.json')) as ChampionPointer)
      : null;
  }

  /**
   * Publishes a version. `files` are copied in; `info` becomes version.json; the manifest lists every file with
   * its sha256. Idempotent per run: a version already published for the same runId and model bytes is returned.
   */
  async publish(opts: {
    runId: string;
    files: { name: string; from: string }[];
    info: Omit<VersionInfo, 'version' | 'createdAt' | 'runId'>;
    primaryValue: number;
    /** The champion's primary metric on the same validation rows (computed by the caller), if any. */
    championValue: number | null;
    tolerance: number;
    /** Crash injection for tests: stop after writing the version, before moving the champion. */
    crashBeforeChampion?: boolean;
  }): Promise<{ version: string; versionDir: string } & GateDecision & { champion: string | null }> {
    return this.withLock(() => {
      const modelSha = opts.files.map((f) => sha256File(f.from)).join(',');
      for (const v of this.versions().filter((x) => x.endsWith(`-${opts.runId}`))) {
        const existing = JSON.parse(
          readFileSync(join(this.root, 'versions', v, 'version.json'), 'utf8'),
        ) as VersionInfo & { modelSha?: string };
        if (existing.modelSha === modelSha) {
          const champ = this.champion();
          return {
            version: v,
            versionDir: join(this.root, 'versions', v),
            decision: champ?.version === v ? 'promoted' : 'challenger',
            reason: 'already published by an earlier attempt of this run',
            champion: champ?.version ?? null,
          };
        }
      }
      const n = this.versions().reduce((m, v) => Math.max(m, Number(/^v(\d+)/.exec(v)![1])), 0) + 1;
      const version = `v${String(n).padStart(4, '0')}-${opts.runId}`;
      const tmp = join(this.root, `.tmp-${version}-${process.pid}`);
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(tmp, { recursive: true });
      for (const f of opts.files) copyFileSync(f.from, join(tmp, f.name));
      const info = { ...opts.info, version, runId: opts.runId, createdAt: new Date().toISOString(), modelSha };
      writeFileSync(join(tmp, 'version.json'), JSON.stringify(info, null, 2) + '\n');
      const manifestFiles: ManifestFile[] = readdirSync(tmp)
        .sort()
        .map((name) => ({ path: name, bytes: statSync(join(tmp, name)).size, sha256: sha256File(join(tmp, name)) }));
      writeFileSync(join(tmp, 'manifest.json'), JSON.stringify({ version, files: manifestFiles }, null, 2) + '\n');
      this.storage.commitFolder(tmp, join('versions', version));

      const champ = this.champion();
      const g = gate(
        opts.info.primaryMetric,
        opts.primaryValue,
        champ ? opts.championValue : null,
        opts.tolerance,
        champ?.version,
      );
      if (opts.crashBeforeChampion) throw new Error('injected crash before the champion pointer moved');
      if (g.decision !== 'challenger')
        this.setChampion({
          version,
          metric: opts.info.primaryMetric,
          value: opts.primaryValue,
          since: new Date().toISOString(),
          reason: g.reason,
        });
      return {
        version,
        versionDir: join(this.root, 'versions', version),
        ...g,
        champion: this.champion()?.version ?? null,
      };
    });
  }

  /** Moves the champion pointer (last step, atomic rename) and records the move in champion-history.jsonl. */
  private setChampion(p: ChampionPointer) {
    this.storage.writeJson('champion.json', p);
    appendFileSync(join(this.root, 'champion-history.jsonl'), JSON.stringify(p) + '\n');
  }

  async promote(version: string, reason = 'promoted by hand'): Promise<ChampionPointer> {
    return this.withLock(() => {
      const dir = this.versionDir(version);
      const info = this.info(basename(dir));
      const value = Number((info.metrics as { holdout?: Record<string, number> }).holdout?.[info.primaryMetric] ?? NaN);
      const p = { version: basename(dir), metric: info.primaryMetric, value, since: new Date().toISOString(), reason };
      this.setChampion(p);
      return p;
    });
  }

  /** Makes the previous champion (from the history) champion again. */
  async rollback(): Promise<ChampionPointer> {
    const history = existsSync(join(this.root, 'champion-history.jsonl'))
      ? readFileSync(join(this.root, 'champion-history.jsonl'), 'utf8')
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as ChampionPointer)
      : [];
    const current = this.champion()?.version;
    const previous = [...history].reverse().find((h) => h.version !== current);
    if (!previous) throw Object.assign(new Error('no earlier champion to roll back to'), { name: 'NotFound' });
    return this.promote(previous.version, `rolled back from ${current}`);
  }

  /** Recomputes the checksums of a version against its manifest; returns the files that differ. */
  verify(version: string): string[] {
    const dir = this.versionDir(version);
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { files: ManifestFile[] };
    return m.files
      .filter((f) => !existsSync(join(dir, f.path)) || sha256File(join(dir, f.path)) !== f.sha256)
      .map((f) => f.path);
  }
}
