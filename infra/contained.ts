/**
 * Whether a path stays inside a root once symbolic links are followed. A lexical check (`path.relative`) is not
 * enough: `<root>/evil -> /elsewhere` is lexically inside the root and writes or reads outside it.
 */
import { lstatSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';

/**
 * The real location of `path`: the real path of its longest existing prefix, plus the parts not created yet.
 * A broken link on the way has no real location and is refused.
 */
export function realLocation(path: string): string {
  let existing = resolve(path);
  const rest: string[] = [];
  for (;;) {
    try {
      lstatSync(existing);
      break;
    } catch {
      if (dirname(existing) === existing) break;
      rest.unshift(basename(existing));
      existing = dirname(existing);
    }
  }
  try {
    return join(realpathSync(existing), ...rest);
  } catch {
    throw new Error(`${existing} is a broken symbolic link`);
  }
}

/** True when `path` is `root` itself or below it, both taken at their real locations. */
export function isInside(root: string, path: string, allowRoot = true): boolean {
  const rel = relative(realLocation(root), realLocation(path));
  if (rel === '') return allowRoot;
  return !rel.startsWith('..') && !isAbsolute(rel);
}
