/**
 * Delivery of a run's campaign lists to a stable folder that e-mail and ad tools pick up:
 * `<export root>/<export.destination>/<campaign>.csv|.parquet` plus `manifest.json`. The root comes from
 * configuration (FUNNELCAST_EXPORT_ROOT, default `<home>/exports`), the destination from the pipeline (a relative
 * folder, checked by the schema); a destination that resolves outside the root, also through a symbolic link, is
 * refused here as well.
 * Files are copied to a temporary name and renamed, manifest last; an older cutoff never replaces a newer delivery
 * (a backfill does not overwrite this week's lists with last month's).
 */
import { constants, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, join, relative, resolve, isAbsolute } from 'node:path';
import { diskFullError } from '../infra/disk-full';
import { isInside, realLocation } from '../infra/contained';

export class DestinationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

/**
 * The absolute delivery folder, or an error when `destination` would leave `root`, lexically or through a symbolic
 * link (`<root>/evil -> /elsewhere`): the check compares real paths.
 */
export function resolveDestination(root: string, destination: string): string {
  const base = resolve(root);
  const dir = resolve(base, destination);
  const rel = relative(base, dir);
  const outside = (where: string) =>
    new DestinationError(
      `export.destination "${destination}" resolves to ${where}, outside the export root ${base}: use a folder inside it`,
    );
  if (isAbsolute(destination) || rel === '' || rel.startsWith('..') || isAbsolute(rel)) throw outside(dir);
  let real: string;
  try {
    real = realLocation(dir);
  } catch (e) {
    throw outside(`nowhere (${(e as Error).message})`);
  }
  if (!isInside(base, real, false)) throw outside(`${real} through a symbolic link`);
  return dir;
}

export interface Delivery {
  dir: string;
  delivered: boolean;
  /** Why nothing was copied (a newer cutoff is already there). */
  reason?: string;
}

export function deliverExports(opts: {
  root: string;
  destination: string;
  cutoff: string;
  files: string[];
  manifestPath: string;
}): Delivery {
  const dir = resolveDestination(opts.root, opts.destination);
  mkdirSync(dir, { recursive: true });
  // Checked again once the folder exists: a link swapped in meanwhile must not receive the lists either.
  resolveDestination(opts.root, opts.destination);
  const manifest = join(dir, 'manifest.json');
  if (existsSync(manifest)) {
    const current = (JSON.parse(readFileSync(manifest, 'utf8')) as { cutoff?: string }).cutoff;
    if (current && Date.parse(current) > Date.parse(opts.cutoff))
      return { dir, delivered: false, reason: `a newer cutoff (${current}) is already delivered there` };
  }
  for (const f of [...opts.files, opts.manifestPath]) {
    const target = join(dir, basename(f));
    const tmp = `${target}.tmp-${process.pid}`;
    // A planted link at the temp name is removed, not written through; EXCL refuses one planted in between.
    rmSync(tmp, { force: true });
    try {
      copyFileSync(f, tmp, constants.COPYFILE_EXCL);
    } catch (e) {
      rmSync(tmp, { force: true }); // a half-copied temp (disk full) is never left behind
      throw (
        diskFullError(e, `delivering ${target}`, 'the delivered files are the previous ones, no partial file left') ?? e
      );
    }
    renameSync(tmp, target);
  }
  return { dir, delivered: true };
}
