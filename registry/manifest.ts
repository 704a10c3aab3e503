/** A version's manifest: every file with its size and sha256, written when the version is assembled. */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ManifestFile {
  path: string;
  bytes: number;
  sha256: string;
}

export const sha256File = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** Recomputes the checksums of a version folder against its manifest; returns the files that differ or are gone. */
export function verifyManifest(dir: string): string[] {
  // A version published to the artifact store names its files `name` (store/index.ts publishSet), a local one `path`.
  const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
    files: (Omit<ManifestFile, 'path'> & { path?: string; name?: string })[];
  };
  return m.files
    .map((f) => ({ ...f, path: f.path ?? f.name ?? '' }))
    .filter((f) => !f.path || !existsSync(join(dir, f.path)) || sha256File(join(dir, f.path)) !== f.sha256)
    .map((f) => f.path);
}
