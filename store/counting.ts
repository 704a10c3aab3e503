/**
 * What each step costs in store traffic: an ArtifactStore that counts its calls, bytes and seconds into the step
 * that made them. Several activities of one worker run at once and share one store, so the step is taken from the
 * asynchronous context the activity runs in (`countingAs`), not from a "current step" variable that a concurrent
 * activity would overwrite. Calls made outside any step are counted under "(other)". Store traffic beside the
 * boundary's (training checkpoints, the registry) is counted in rows of its own, `<step> checkpoints` and
 * `<step> registry` (`part`), so the bench shows what each costs; a body on a worker thread or child process
 * counts in its own CountingStore and hands its rows to the activity's process when it ends (`merge`).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { ArtifactStore, ListedObject, ObjectInfo, PutOptions } from './types';

export interface StepStoreStats {
  /** Activity executions counted (one per attempt). */
  calls: number;
  put: number;
  get: number;
  head: number;
  list: number;
  delete: number;
  bytesPut: number;
  bytesGot: number;
  /** Seconds spent waiting on the store's calls. */
  storeSeconds: number;
  /** Seconds the store boundary took around the activity: the store calls plus walking and hashing files. */
  boundarySeconds: number;
  /** Files read and hashed by the boundary to learn whether the store has them (unchanged files are not). */
  hashed: number;
  bytesHashed: number;
}

export const emptyStepStats = (): StepStoreStats => ({
  calls: 0,
  put: 0,
  get: 0,
  head: 0,
  list: 0,
  delete: 0,
  bytesPut: 0,
  bytesGot: 0,
  storeSeconds: 0,
  boundarySeconds: 0,
  hashed: 0,
  bytesHashed: 0,
});

const current = new AsyncLocalStorage<{ name: string; stats: StepStoreStats }>();

/** What a thread or child process running an activity's body sends its process when the body ends. */
export interface StoreStepsMessage {
  kind: 'storeSteps';
  steps: Record<string, StepStoreStats>;
}

export const isStoreStepsMessage = (m: unknown): m is StoreStepsMessage =>
  typeof m === 'object' && m !== null && (m as { kind?: unknown }).kind === 'storeSteps';

export class CountingStore implements ArtifactStore {
  /** Per step name; the stats object of a step is shared by all its executions in this process. */
  readonly steps = new Map<string, StepStoreStats>();

  constructor(readonly inner: ArtifactStore) {}

  get url(): string {
    return this.inner.url;
  }

  stepStats(name: string): StepStoreStats {
    let s = this.steps.get(name);
    if (!s) this.steps.set(name, (s = emptyStepStats()));
    return s;
  }

  /** Runs `fn` with every store call it makes (however deep, however interleaved) counted under `name`. */
  countingAs<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return current.run({ name, stats: this.stepStats(name) }, fn);
  }

  /** The step running in this asynchronous context, if any. */
  stepName(): string | undefined {
    return current.getStore()?.name;
  }

  /** The stats of the step running in this asynchronous context. */
  here(): StepStoreStats {
    return current.getStore()?.stats ?? this.stepStats('(other)');
  }

  /** This store with every call counted under `<step> <part>` (the step running at the call), not the step's row. */
  part(part: string): ArtifactStore {
    return partView(this, part);
  }

  /** Adds rows counted elsewhere (a body's thread) to this process's rows of the same names. */
  merge(steps: Record<string, StepStoreStats>): void {
    for (const [name, st] of Object.entries(steps)) {
      const sum = this.stepStats(name);
      for (const k of Object.keys(sum) as (keyof StepStoreStats)[]) sum[k] += st[k] ?? 0;
    }
  }

  private async timed<T>(op: 'put' | 'get' | 'head' | 'list' | 'delete', f: () => Promise<T>): Promise<T> {
    const s = this.here();
    const t0 = performance.now();
    try {
      return await f();
    } finally {
      s[op]++;
      s.storeSeconds += (performance.now() - t0) / 1000;
    }
  }

  put(key: string, body: Uint8Array, opts?: PutOptions): Promise<ObjectInfo> {
    this.here().bytesPut += body.length;
    return this.timed('put', () => this.inner.put(key, body, opts));
  }

  async get(key: string): Promise<{ body: Buffer; info: ObjectInfo } | null> {
    const got = await this.timed('get', () => this.inner.get(key));
    if (got) this.here().bytesGot += got.body.length;
    return got;
  }

  head(key: string): Promise<ObjectInfo | null> {
    return this.timed('head', () => this.inner.head(key));
  }

  list(prefix: string): Promise<string[]> {
    return this.timed('list', () => this.inner.list(prefix));
  }

  listInfo(prefix: string): Promise<ListedObject[]> {
    return this.timed('list', () => this.inner.listInfo(prefix));
  }

  delete(key: string): Promise<void> {
    return this.timed('delete', () => this.inner.delete(key));
  }

  close(): void {
    this.inner.close();
  }
}

function partView(c: CountingStore, part: string): ArtifactStore {
  const as = <T>(f: () => Promise<T>) => c.countingAs(`${c.stepName() ?? '(other)'} ${part}`, f);
  return {
    get url() {
      return c.url;
    },
    put: (key, body, opts) => as(() => c.put(key, body, opts)),
    get: (key) => as(() => c.get(key)),
    head: (key) => as(() => c.head(key)),
    list: (prefix) => as(() => c.list(prefix)),
    listInfo: (prefix) => as(() => c.listInfo(prefix)),
    delete: (key) => as(() => c.delete(key)),
    close: () => undefined, // the shared store stays open for the process
  };
}
