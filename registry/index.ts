/**
 * The model registry: immutable, ordered, human-readable versions (`v0007-<runId>`), each a folder with the model
 * files, metrics, lineage and a manifest holding the sha256 of every file; and a `champion.json` pointer that
 * moves last, atomically (write + rename), only when the gate passes.
 *
 * Crash safety: a version is assembled in a temp folder and renamed into `versions/` whole; the champion pointer
 * is replaced by rename. Concurrency: publishes and promotions take an exclusive lock file (O_EXCL), and version
 * numbers are allocated under it. Storage is behind `RegistryStorage` so an object store can replace the disk.
 * Only a live version (cutoff ≥ the champion's live cutoff, not from a backfill) can move the pointer; others are
 * backtests. Each version's gate decision is recorded (a retried publish runs the gate until it is); see history.ts.
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { LocalStorage, withLockFile, type RegistryStorage } from './storage';
import { LocalStore, PreconditionFailedError } from '../store';
import { ChampionMovedError, type StoreRegistry } from './store-registry';
import { mirrorRegistry } from './mirror';
import { sha256File, verifyManifest, type ManifestFile } from './manifest';
import { sanityRefusal } from './sanity';
import { gate, movesPointer, type Decision, type GateDecision } from './gate';
import {
  acceptedDriftEntry,
  appendHistory,
  decisionPath,
  previousChampion,
  readHistory,
  type DecisionRecord,
  type HistoryAction,
  type HistoryEntry,
  type VersionKind,
  decisionRecord,
} from './history';

export * from './gate';
export * from './history';
export * from './storage';
export * from './manifest';
export * from './sanity';

export * from './types';
import {
  laterOf,
  promotedPointer,
  type ChampionPointer,
  type PublishOptions,
  type PublishOutcome,
  type VersionInfo,
} from './types';

export class ModelRegistry {
  readonly storage: RegistryStorage;
  /** The same folder as an artifact store: the champion pointer is written by compare-and-swap on it. */
  private readonly pointerStore: LocalStore;

  /**
   * `shared`: the registry in the artifact store that this folder mirrors (registry/shared.ts). Publishes,
   * promotions and rollbacks then go to the store (compare-and-swap on its pointer) and this folder is refreshed
   * after; without it the folder is the registry.
   */
  constructor(
    root: string,
    storage?: RegistryStorage,
    readonly shared?: StoreRegistry,
  ) {
    this.storage = storage ?? new LocalStorage(root);
    this.pointerStore = new LocalStore(this.storage.root);
  }

  get root() {
    return this.storage.root;
  }

  /** Runs fn while holding the registry lock (an O_EXCL lock file; a lock older than 10 minutes is stale). */
  withLock<T>(fn: () => Promise<T> | T, timeoutMs = 60_000): Promise<T> {
    return withLockFile(join(this.root, '.lock'), this.root, fn, timeoutMs);
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

  /** The champion pointer; a damaged pointer file is an error that names the file and how to repair it. */
  champion(): ChampionPointer | null {
    if (!this.storage.exists('champion.json')) return null;
    return this.parsePointer(this.storage.readText('champion.json'));
  }

  private parsePointer(text: string): ChampionPointer {
    try {
      const p = JSON.parse(text) as ChampionPointer;
      if (typeof p?.version !== 'string') throw new Error('it has no "version"');
      return p;
    } catch (e) {
      throw Object.assign(
        new Error(
          `the champion pointer ${join(this.root, 'champion.json')} is damaged (${(e as Error).message}): ` +
            `see "funnelcast models history" and set it again with "funnelcast models promote <version>"`,
        ),
        { name: 'InputError' },
      );
    }
  }

  /** The pointer and the ETag it was read with, in one read: the write that follows is conditional on it. */
  private async readPointer(): Promise<{ value: ChampionPointer | null; etag: string | null }> {
    const got = await this.pointerStore.get('champion.json');
    return got
      ? { value: this.parsePointer(got.body.toString('utf8')), etag: got.info.etag }
      : { value: null, etag: null };
  }

  /** The gate's recorded decision for a version (null: not decided yet, or published before decisions were kept). */
  decision(version: string): DecisionRecord | null {
    const p = decisionPath(basename(this.versionDir(version)));
    return this.storage.exists(p) ? (JSON.parse(this.storage.readText(p)) as DecisionRecord) : null;
  }

  history(): HistoryEntry[] {
    return readHistory(this.root);
  }

  /** Drift a run accepted before delivering its lists, in the champion history (history.ts acceptedDriftEntry). */
  async recordAcceptedDrift(r: { version: string; reason: string; by: string }): Promise<void> {
    const shared = this.shared;
    if (shared) return shared.recordAcceptedDrift(r).finally(() => mirrorRegistry(shared, this.root));
    return this.withLock(() => {
      const e = acceptedDriftEntry(this.history(), {
        ...r,
        champion: this.championVersionOrNull(),
        decision: this.decision(r.version),
      });
      if (e) appendHistory(this.root, e);
    });
  }

  /** The version's cutoff (run cutoff), from its lineage. */
  cutoffOf(version: string): string | null {
    const c = this.info(version).lineage.cutoff;
    return typeof c === 'string' ? c : null;
  }

  /**
   * Publishes a version and decides the champion pointer for it. `files` are copied in; `info` becomes
   * version.json; the manifest lists every file with its sha256. Idempotent per run: a version already published
   * for the same runId and model bytes is reused, and the gate runs again unless its decision was recorded (a
   * crash between the version folder and the pointer must not skip the gate).
   */
  async publish(opts: PublishOptions): Promise<PublishOutcome> {
    if (this.shared) return this.publishShared(this.shared, opts);
    return this.withLock(async () => {
      const modelSha = opts.files.map((f) => sha256File(f.from)).join(',');
      const version = this.findPublished(opts.runId, modelSha) ?? this.writeVersion(opts, modelSha);
      const versionDir = join(this.root, 'versions', version);
      const recorded = this.storage.exists(decisionPath(version)) ? this.decision(version)! : null;
      if (recorded)
        return {
          version,
          versionDir,
          kind: recorded.kind,
          decision: recorded.decision,
          reason: `${recorded.reason} (decided by an earlier attempt of this run)`,
          champion: this.champion()?.version ?? null,
        };
      if (opts.crashBeforeChampion) throw new Error('injected crash before the champion pointer moved');
      return { version, versionDir, ...(await this.decide(version, opts)) };
    });
  }

  private async publishShared(shared: StoreRegistry, opts: PublishOptions): Promise<PublishOutcome> {
    try {
      const r = await shared.publish({ ...opts, files: opts.files.map((f) => ({ name: f.name, path: f.from })) });
      const { versionKey: _, ...rest } = r;
      return { ...rest, versionDir: join(this.root, 'versions', r.version) };
    } finally {
      await mirrorRegistry(shared, this.root);
    }
  }

  private findPublished(runId: string, modelSha: string): string | undefined {
    return this.versions()
      .filter((x) => x.endsWith(`-${runId}`))
      .find((v) => {
        const existing = JSON.parse(
          readFileSync(join(this.root, 'versions', v, 'version.json'), 'utf8'),
        ) as VersionInfo & { modelSha?: string };
        return existing.modelSha === modelSha;
      });
  }

  /** Assembles the version in a temp folder and renames it into versions/ whole. */
  private writeVersion(opts: PublishOptions, modelSha: string): string {
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
    return version;
  }

  /** Runs the gate for a published version (under the lock), moves the pointer when it says so, records both. */
  private async decide(
    version: string,
    opts: PublishOptions,
  ): Promise<{ kind: VersionKind; champion: string | null } & GateDecision> {
    const by = opts.by ?? opts.runId;
    const read = await this.readPointer();
    let champ = read.value;
    const metric = opts.info.primaryMetric;
    if (champ?.version === version) {
      // An earlier attempt moved the pointer and crashed before recording the decision: finish recording it (and
      // the history line, when the crash came before it).
      const decision = (champ.decision as Decision | undefined) ?? 'promoted';
      if (this.history().at(-1)?.version !== version) this.appendMove(champ, 'gate', null);
      this.record({ version, kind: 'live', decision, reason: champ.reason, opts, by, champion: null });
      return { kind: 'live', decision, reason: champ.reason, champion: version };
    }
    const standingVersion = opts.champion.kind === 'none' ? null : opts.champion.version;
    if ((champ?.version ?? null) !== standingVersion)
      // The pointer moved since the caller compared (a concurrent run): its comparison is stale, compare again.
      throw new ChampionMovedError(standingVersion, champ?.version ?? null);
    const frontier = champ ? (champ.liveCutoff ?? champ.cutoff ?? this.cutoffOf(champ.version)) : null;
    const backtestWhy =
      opts.backtest ??
      (frontier && Date.parse(opts.cutoff) < Date.parse(frontier)
        ? `cutoff ${opts.cutoff} is older than the live champion's ${frontier}`
        : null);
    const g = gate({
      metric,
      challenger: opts.primaryValue,
      champion: opts.champion,
      tolerance: opts.tolerance,
      replaceIncomparable: opts.replaceIncomparable,
      backtest: backtestWhy ? { why: backtestWhy } : null,
      refusal: sanityRefusal(opts.sanity ?? []),
    });
    const kind: VersionKind = backtestWhy ? 'backtest' : 'live';
    if (movesPointer(g.decision)) {
      await this.setChampion(
        {
          version,
          metric,
          value: opts.primaryValue,
          since: new Date().toISOString(),
          reason: opts.note ? `${g.reason}; ${opts.note}` : g.reason,
          decision: g.decision,
          cutoff: opts.cutoff,
          liveCutoff: laterOf(frontier, opts.cutoff),
          by,
        },
        g.decision === 'replaced' ? 'replace-incomparable' : 'gate',
        champ?.version ?? null,
        read.etag,
      );
      champ = this.champion();
    }
    this.record({ version, kind, ...g, opts, by, champion: standingVersion });
    return { kind, ...g, champion: champ?.version ?? null };
  }

  private record(r: {
    version: string;
    kind: VersionKind;
    decision: Decision;
    reason: string;
    opts: PublishOptions;
    by: string;
    champion: string | null;
  }) {
    const rec = decisionRecord(r);
    this.storage.writeJson(decisionPath(r.version), rec);
  }

  /**
   * Moves the champion pointer by compare-and-swap on the ETag it was read with (null: it did not exist), then
   * appends the move to champion-history.jsonl. A pointer moved in between (by a writer that did not take this
   * folder's lock) fails the write: the caller's decision was made on a champion that is no longer there.
   */
  private async setChampion(p: ChampionPointer, action: HistoryAction, previous: string | null, etag: string | null) {
    const body = Buffer.from(JSON.stringify(p, null, 2) + '\n');
    try {
      await this.pointerStore.put('champion.json', body, etag ? { ifMatch: etag } : { ifNoneMatch: '*' });
    } catch (e) {
      if (!(e instanceof PreconditionFailedError)) throw e;
      throw new ChampionMovedError(previous, this.championVersionOrNull());
    }
    this.appendMove(p, action, previous);
  }

  private appendMove(p: ChampionPointer, action: HistoryAction, previous: string | null) {
    appendHistory(this.root, {
      at: p.since,
      action,
      version: p.version,
      previous,
      cutoff: p.cutoff ?? null,
      metric: p.metric,
      value: p.value,
      reason: p.reason,
      by: p.by ?? 'unknown',
    });
  }

  /** The current champion's version without failing on a damaged pointer (promote is how it gets repaired). */
  private championVersionOrNull(): string | null {
    try {
      return this.champion()?.version ?? null;
    } catch {
      return null;
    }
  }

  /**
   * Makes a version champion by hand (recorded with who did it). A backtest version never serves: it is refused.
   */
  async promote(
    version: string,
    opts: { reason?: string; by?: string; action?: 'promote' | 'rollback' } = {},
  ): Promise<ChampionPointer> {
    if (this.shared) {
      const shared = this.shared;
      return shared.promote(version, opts).finally(() => mirrorRegistry(shared, this.root));
    }
    return this.withLock(async () => {
      const dir = this.versionDir(version);
      const name = basename(dir);
      const d = this.decision(name);
      const why = d?.kind === 'backtest' && (/^backtest \(.*?\), never serving/.exec(d.reason)?.[0] ?? 'backtest');
      if (why) throw Object.assign(new Error(`${name} is a ${why}: it cannot be promoted`), { name: 'InputError' });
      const info = this.info(name);
      const value = Number((info.metrics as { holdout?: Record<string, number> }).holdout?.[info.primaryMetric] ?? NaN);
      let before: ChampionPointer | null = null;
      const etag = (await this.pointerStore.head('champion.json'))?.etag ?? null;
      try {
        before = this.champion();
      } catch {
        // a damaged pointer is being repaired: nothing to carry over
      }
      const cutoff = this.cutoffOf(name);
      const action = opts.action ?? 'promote';
      const p = promotedPointer(name, info, value, cutoff, before, opts);
      await this.setChampion(p, action, this.championVersionOrNull(), etag);
      return p;
    });
  }

  /**
   * Makes an earlier champion champion again: `to` when given, else the champion the current one replaced when it
   * was appointed (by the gate or by hand; earlier rollbacks are skipped), so repeated rollbacks walk back through
   * the champions instead of toggling between the last two.
   */
  async rollback(by = 'unknown', opts: { to?: string; reason?: string } = {}): Promise<ChampionPointer> {
    if (this.shared) {
      const shared = this.shared;
      return shared.rollback(by, opts).finally(() => mirrorRegistry(shared, this.root));
    }
    const current = this.championVersionOrNull();
    const target = opts.to ?? previousChampion(this.history(), current);
    if (!target)
      throw Object.assign(new Error(`no earlier champion to roll back to from ${current ?? 'none'}`), {
        name: 'NotFound',
      });
    const why = `rolled back from ${current}${opts.reason ? `: ${opts.reason}` : ''}`;
    return this.promote(target, { reason: why, by, action: 'rollback' });
  }

  /** Recomputes the checksums of a version against its manifest; returns the files that differ. */
  verify(version: string): string[] {
    return verifyManifest(this.versionDir(version));
  }
}
