/**
 * The model registry in the artifact store, for workers on several machines (the local-folder registry in
 * index.ts serialises writers with a lock file, which only works on one machine). Under `registry/<pipeline>/`:
 *
 *   numbers/v0007                 create-once claim of a version number (two publishers never share one)
 *   versions/v0007-<runId>/…      the version's files, version.json, and manifest.json written last (immutable)
 *   decisions/v0007-<runId>.json  the gate's decision (create-once)
 *   champion.json                 the pointer, moved only by compare-and-swap on its ETag (If-Match / If-None-Match)
 *   history/<at>-<version>.json   one object per move of the pointer (no shared file to append to)
 *
 * A publisher reads the pointer with its ETag, runs the gate on what it read and writes the pointer on that ETag
 * only: of two concurrent publishes that both compared with the same champion, the store lets exactly one write;
 * the other gets ChampionMovedError, and its retry compares with the new champion (as the local registry does).
 */
import { readFileSync } from 'node:fs';
import { joinKey, PreconditionFailedError, publishSet, readJson, sha256Hex, type ArtifactStore } from '../store';
import { gate, movesPointer } from './gate';
import {
  acceptedDriftEntry,
  decisionRecord,
  previousChampion,
  type DecisionRecord,
  type HistoryEntry,
  type VersionKind,
} from './history';
import {
  laterOf,
  promotedPointer,
  type ChampionPointer,
  type PublishOptions,
  type PublishOutcome,
  type VersionInfo,
} from './types';
import { sanityRefusal } from './sanity';

/** The pointer moved between this publisher's read and its write: compare with the new champion and try again. */
export class ChampionMovedError extends Error {
  constructor(seen: string | null, now: string | null) {
    super(
      `the champion changed while this run compared with it (${seen ?? 'none'} → ${now ?? 'none'}); retrying compares again`,
    );
    this.name = 'ChampionMovedError';
  }
}

type StorePublish = Omit<PublishOptions, 'files'> & { files: { name: string; path: string }[] };
export type StorePublishOutcome = Omit<PublishOutcome, 'versionDir'> & { versionKey: string };

function parsePointer(body: Buffer): ChampionPointer | null {
  try {
    const p = JSON.parse(body.toString('utf8')) as ChampionPointer;
    return typeof p?.version === 'string' ? p : null;
  } catch {
    return null;
  }
}

export class StoreRegistry {
  constructor(
    readonly store: ArtifactStore,
    readonly pipeline: string,
    /** Tests only: runs after the gate decided on the pointer as read and before it is written (to force a race). */
    private readonly beforePointerWrite: () => Promise<void> = async () => undefined,
  ) {}

  key(...parts: string[]): string {
    return joinKey('registry', this.pipeline, ...parts);
  }

  /** Published versions (those whose manifest is written), oldest first. */
  async versions(): Promise<string[]> {
    const keys = await this.store.list(this.key('versions') + '/');
    return keys
      .filter((k) => k.endsWith('/manifest.json'))
      .map((k) => k.split('/').at(-2)!)
      .filter((v) => /^v\d{4,}-/.test(v))
      .sort();
  }

  async champion(): Promise<ChampionPointer | null> {
    return (await readJson<ChampionPointer>(this.store, this.key('champion.json')))?.value ?? null;
  }

  async history(): Promise<HistoryEntry[]> {
    const keys = await this.store.list(this.key('history') + '/');
    const out: HistoryEntry[] = [];
    for (const k of keys) out.push((await readJson<HistoryEntry>(this.store, k))!.value);
    return out;
  }

  async decision(version: string): Promise<DecisionRecord | null> {
    return (await readJson<DecisionRecord>(this.store, this.key('decisions', `${version}.json`)))?.value ?? null;
  }

  /** Publishes the version (or finds this run's earlier publish of the same bytes) and runs the gate for it. */
  async publish(opts: StorePublish): Promise<StorePublishOutcome> {
    const modelSha = opts.files.map((f) => sha256Hex(readFileSync(f.path))).join(',');
    const version = (await this.findPublished(opts.runId, modelSha)) ?? (await this.writeVersion(opts, modelSha));
    const versionKey = this.key('versions', version);
    const recorded = await this.decision(version);
    if (recorded)
      return {
        version,
        versionKey,
        kind: recorded.kind,
        decision: recorded.decision,
        reason: `${recorded.reason} (decided by an earlier attempt of this run)`,
        champion: (await this.champion())?.version ?? null,
      };
    if (opts.crashBeforeChampion) throw new Error('injected crash before the champion pointer moved');
    return { version, versionKey, ...(await this.decide(version, opts)) };
  }

  private async findPublished(runId: string, modelSha: string): Promise<string | undefined> {
    for (const v of (await this.versions()).filter((x) => x.endsWith(`-${runId}`))) {
      const info = await readJson<VersionInfo & { modelSha?: string }>(
        this.store,
        this.key('versions', v, 'version.json'),
      );
      if (info?.value.modelSha === modelSha) return v;
    }
    return undefined;
  }

  /** Claims the next free number (create-once), then writes the version's objects with its manifest last. */
  private async writeVersion(opts: StorePublish, modelSha: string): Promise<string> {
    const claimed = await this.store.list(this.key('numbers') + '/');
    let n = claimed.reduce((m, k) => Math.max(m, Number(/v(\d+)$/.exec(k)?.[1] ?? 0)), 0) + 1;
    for (; ; n++) {
      try {
        await this.store.put(this.key('numbers', `v${String(n).padStart(4, '0')}`), Buffer.from(opts.runId), {
          ifNoneMatch: '*',
        });
        break;
      } catch (e) {
        if (!(e instanceof PreconditionFailedError)) throw e;
      }
    }
    const version = `v${String(n).padStart(4, '0')}-${opts.runId}`;
    const info = { ...opts.info, version, runId: opts.runId, createdAt: new Date().toISOString(), modelSha };
    await this.store.put(
      this.key('versions', version, 'version.json'),
      Buffer.from(JSON.stringify(info, null, 2) + '\n'),
    );
    await publishSet(this.store, this.key('versions', version), opts.files);
    return version;
  }

  /** The gate on the pointer as read, and the pointer written on exactly that ETag when the gate moves it. */
  private async decide(version: string, opts: StorePublish) {
    const by = opts.by ?? opts.runId;
    const read = await readJson<ChampionPointer>(this.store, this.key('champion.json'));
    const champ = read?.value ?? null;
    if (champ?.version === version) return this.finishRecording(version, champ, opts, by);
    const standing = opts.champion.kind === 'none' ? null : opts.champion.version;
    if ((champ?.version ?? null) !== standing) throw new ChampionMovedError(standing, champ?.version ?? null);
    const frontier = champ ? (champ.liveCutoff ?? champ.cutoff ?? null) : null;
    const backtestWhy =
      opts.backtest ??
      (frontier && Date.parse(opts.cutoff) < Date.parse(frontier)
        ? `cutoff ${opts.cutoff} is older than the live champion's ${frontier}`
        : null);
    const metric = opts.info.primaryMetric;
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
    let now = champ?.version ?? null;
    if (movesPointer(g.decision)) {
      const p: ChampionPointer = {
        version,
        metric,
        value: opts.primaryValue,
        since: new Date().toISOString(),
        reason: opts.note ? `${g.reason}; ${opts.note}` : g.reason,
        decision: g.decision,
        cutoff: opts.cutoff,
        liveCutoff: laterOf(frontier, opts.cutoff),
        by,
      };
      await this.beforePointerWrite();
      await this.swapPointer(p, read?.etag ?? null, standing);
      await this.appendMove(p, g.decision === 'replaced' ? 'replace-incomparable' : 'gate', standing);
      now = version;
    }
    await this.record({ version, kind, ...g, opts, by, champion: standing });
    return { kind, ...g, champion: now };
  }

  /**
   * An earlier attempt moved the pointer to this version and crashed before recording the decision: record it now
   * (and the history entry when the crash came before it), without running the gate against itself.
   */
  private async finishRecording(version: string, champ: ChampionPointer, opts: StorePublish, by: string) {
    const decision = (champ.decision as DecisionRecord['decision'] | undefined) ?? 'promoted';
    if ((await this.history()).at(-1)?.version !== version) await this.appendMove(champ, 'gate', null);
    await this.record({ version, kind: 'live', decision, reason: champ.reason, opts, by, champion: null });
    return { kind: 'live' as VersionKind, decision, reason: champ.reason, champion: version };
  }

  /** The full name of a version given as `v0002` or `v0002-<runId>`; NotFound when none is published. */
  async resolve(version: string): Promise<string> {
    const v = (await this.versions()).find((x) => x === version || x.startsWith(`${version}-`));
    if (!v)
      throw Object.assign(new Error(`no model version "${version}" in ${this.store.url}/${this.key()}`), {
        name: 'NotFound',
      });
    return v;
  }

  /**
   * Makes a version champion by hand. The pointer is written on the ETag it was read with: when it moved in
   * between (a publish, another promote), `expect` (the champion the caller decided against) tells whether the
   * decision still stands; without `expect` a promotion by hand simply reads again and applies.
   */
  async promote(
    version: string,
    opts: { reason?: string; by?: string; action?: 'promote' | 'rollback'; expect?: string | null } = {},
  ): Promise<ChampionPointer> {
    const name = await this.resolve(version);
    const d = await this.decision(name);
    const why = d?.kind === 'backtest' && (/^backtest \(.*?\), never serving/.exec(d.reason)?.[0] ?? 'backtest');
    if (why) throw Object.assign(new Error(`${name} is a ${why}: it cannot be promoted`), { name: 'InputError' });
    const info = (await readJson<VersionInfo>(this.store, this.key('versions', name, 'version.json')))!.value;
    const value = Number((info.metrics as { holdout?: Record<string, number> }).holdout?.[info.primaryMetric] ?? NaN);
    const cutoff = typeof info.lineage.cutoff === 'string' ? info.lineage.cutoff : null;
    for (let attempt = 0; ; attempt++) {
      const got = await this.store.get(this.key('champion.json'));
      const before = got ? parsePointer(got.body) : null; // a damaged pointer is what a promotion repairs
      const read = got ? { etag: got.info.etag } : null;
      if (opts.expect !== undefined && (before?.version ?? null) !== opts.expect)
        throw new ChampionMovedError(opts.expect, before?.version ?? null);
      const p = promotedPointer(name, info, value, cutoff, before, opts);
      try {
        await this.swapPointer(p, read?.etag ?? null, before?.version ?? null);
      } catch (e) {
        if (e instanceof ChampionMovedError && opts.expect === undefined && attempt < 5) continue;
        throw e;
      }
      await this.appendMove(p, opts.action ?? 'promote', before?.version ?? null);
      return p;
    }
  }

  /** Back to `to`, or to the champion the current one replaced when it was appointed (see previousChampion). */
  async rollback(by = 'unknown', opts: { to?: string; reason?: string } = {}): Promise<ChampionPointer> {
    const current = (await this.champion())?.version ?? null;
    const target = opts.to ?? previousChampion(await this.history(), current);
    if (!target)
      throw Object.assign(new Error(`no earlier champion to roll back to from ${current ?? 'none'}`), {
        name: 'NotFound',
      });
    const why = `rolled back from ${current}${opts.reason ? `: ${opts.reason}` : ''}`;
    return this.promote(target, { reason: why, by, action: 'rollback', expect: current });
  }

  private async swapPointer(p: ChampionPointer, etag: string | null, seen: string | null): Promise<void> {
    const body = Buffer.from(JSON.stringify(p, null, 2) + '\n');
    try {
      await this.store.put(this.key('champion.json'), body, etag ? { ifMatch: etag } : { ifNoneMatch: '*' });
    } catch (e) {
      if (!(e instanceof PreconditionFailedError)) throw e;
      throw new ChampionMovedError(seen, (await this.champion())?.version ?? null);
    }
  }

  private async appendMove(p: ChampionPointer, action: HistoryEntry['action'], previous: string | null) {
    const e: HistoryEntry = {
      at: p.since,
      action,
      version: p.version,
      previous,
      cutoff: p.cutoff ?? null,
      metric: p.metric,
      value: p.value,
      reason: p.reason,
      by: p.by ?? 'unknown',
    };
    await this.putHistory(e);
  }

  /** One object per entry, named by its time so a listing is in order; create-once. */
  private async putHistory(e: HistoryEntry) {
    const name = `${e.at.replace(/[-:.]/g, '')}-${e.version}.json`;
    await this.store.put(this.key('history', name), Buffer.from(JSON.stringify(e) + '\n'), { ifNoneMatch: '*' });
  }

  /** Drift a run accepted before delivering its lists (no pointer move; once per run and version). */
  async recordAcceptedDrift(r: { version: string; reason: string; by: string }): Promise<void> {
    const champion = (await this.champion())?.version ?? null;
    const e = acceptedDriftEntry(await this.history(), { ...r, champion, decision: await this.decision(r.version) });
    if (e) await this.putHistory(e);
  }

  private async record(r: {
    version: string;
    kind: VersionKind;
    decision: DecisionRecord['decision'];
    reason: string;
    opts: StorePublish;
    by: string;
    champion: string | null;
  }) {
    const rec = decisionRecord(r);
    const key = this.key('decisions', `${r.version}.json`);
    await this.store.put(key, Buffer.from(JSON.stringify(rec, null, 2) + '\n'), { ifNoneMatch: '*' }).catch((e) => {
      // An earlier attempt of this run recorded it first: the record is immutable, keep that one.
      if (!(e instanceof PreconditionFailedError)) throw e;
    });
  }
}
