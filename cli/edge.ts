/**
 * The CLI's edge between keys and people. Payloads carry store keys (`runs/<pipeline>/<run>/scores.parquet`,
 * `package/pipelines/sample.json`), never this machine's paths: what the CLI sends a workflow is made portable
 * here, and what it prints is resolved here. On the local store a key is shown as the absolute path of its file in
 * this home (`--json` prints absolute paths); with FUNNELCAST_STORE the files are in the store, not necessarily on
 * this machine, so the keys are shown as they are.
 */
import { funnelcastHome } from '../infra/paths';
import { StoreBoundary } from '../store';

const local = () => new StoreBoundary(null, null, funnelcastHome);

/** What a person is shown: keys become this home's absolute paths on the local store. */
export function forPeople<T>(value: T): T {
  return process.env.FUNNELCAST_STORE ? value : local().resolve(value);
}

/** What is sent to a workflow: paths under this home or in the installed package become keys. */
export function portable<T>(value: T): T {
  return local().keys(value);
}

/** Keys → paths under another home (a worker process of a test, whose home is not this process's). */
export function resolveIn(home: string): <T>(value: T) => T {
  const b = new StoreBoundary(null, null, home);
  return (value) => b.resolve(value);
}
