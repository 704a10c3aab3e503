/**
 * What each step costs in store traffic: an ArtifactStore that counts its calls, bytes and seconds into the step
 * that made them. Several activities of one worker run at once and share one store, so the step is taken from the
 * asynchronous context the activity runs in (`countingAs`), not from a "current step" variable that a concurrent
 * activity would overwrite. Calls made outside any step are counted under "(other)".
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
  bytesPut: 0,
  bytesGot: 0,
  storeSeconds: 0,
  boundarySeconds: 0,
  hashed: 0,
  bytesHashed: 0,
});

const current = new AsyncLocalStorage<StepStoreStats>();

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
    return current.run(this.stepStats(name), fn);
  }

  /** The stats of the step running in this asynchronous context. */
  here(): StepStoreStats {
    return current.getStore() ?? this.stepStats('(other)');
  }

  private async timed<T>(op: 'put' | 'get' | 'head' | 'list', f: () => Promise<T>): Promise<T> {
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
    return this.inner.delete(key);
  }

  close(): void {
    this.inner.close();
  }
}
