/**
 * The registry a pipeline's publishes, promotions, rollbacks and champion reads use. With FUNNELCAST_STORE set
 * (workers that share only Temporal and the store) it is the registry in the store (store-registry.ts): this
 * worker's registry folder is refreshed from it first and every move of the pointer is a conditional write on the
 * store. Without it, the local folder is the registry and its pointer moves by compare-and-swap on the folder.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { paths } from '../infra/paths';
import { sharedStore, type ArtifactStore } from '../store';
import { ModelRegistry } from './index';
import { mirrorRegistry } from './mirror';
import { StoreRegistry } from './store-registry';

export async function openRegistry(
  pipeline: string,
  // The process's counting store: the registry's calls show as `<step> registry` in the per-step store rows.
  store: ArtifactStore | null = sharedStore()?.part('registry') ?? null,
  root = paths.registry(pipeline),
): Promise<ModelRegistry> {
  if (!store) return new ModelRegistry(root);
  const shared = new StoreRegistry(store, pipeline, pointerBarrier());
  await mirrorRegistry(shared, root);
  return new ModelRegistry(root, undefined, shared);
}

/**
 * Test hook: FUNNELCAST_TEST_POINTER_BARRIER=<dir>:<n> makes each publisher, once it has read the pointer and the
 * gate has decided, wait until n publishers (processes) have got there before it writes: the race of concurrent
 * publishers on one champion is then certain, not merely likely.
 */
function pointerBarrier(): (() => Promise<void>) | undefined {
  const spec = process.env.FUNNELCAST_TEST_POINTER_BARRIER;
  if (!spec) return undefined;
  const at = spec.lastIndexOf(':');
  const [dir, n] = [spec.slice(0, at), Number(spec.slice(at + 1))];
  return async () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${process.pid}-${Date.now()}`), '');
    for (let waited = 0; readdirSync(dir).length < n && waited < 60_000; waited += 50) await sleep(50);
  };
}
