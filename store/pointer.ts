/**
 * A small JSON object moved by compare-and-swap (the registry's champion pointer): read it with its ETag, decide,
 * write it back only if it still has that ETag (If-Match), or only if it does not exist yet (If-None-Match: *).
 * Two writers that read the same version can never both write: the store refuses the second.
 */
import { PreconditionFailedError, type ArtifactStore } from './types';

export async function readJson<T>(store: ArtifactStore, key: string): Promise<{ value: T; etag: string } | null> {
  const got = await store.get(key);
  return got ? { value: JSON.parse(got.body.toString('utf8')) as T, etag: got.info.etag } : null;
}

/**
 * Applies `change` to the current value and writes the result conditionally. `change` returns the new value, or
 * `undefined` to leave the object alone. With `retries` > 0 a lost race reads again and re-decides (the decision
 * must then be made on the new value); with 0 the PreconditionFailedError reaches the caller.
 */
export async function casJson<T>(
  store: ArtifactStore,
  key: string,
  change: (current: T | null) => T | undefined,
  retries = 0,
): Promise<{ written: boolean; value: T | null }> {
  for (let attempt = 0; ; attempt++) {
    const now = await readJson<T>(store, key);
    const next = change(now?.value ?? null);
    if (next === undefined) return { written: false, value: now?.value ?? null };
    try {
      const body = Buffer.from(JSON.stringify(next, null, 2) + '\n');
      await store.put(key, body, now ? { ifMatch: now.etag } : { ifNoneMatch: '*' });
      return { written: true, value: next };
    } catch (e) {
      if (!(e instanceof PreconditionFailedError) || attempt >= retries) throw e;
    }
  }
}
