/**
 * Where definitions may read sources from. With FUNNELCAST_DATA_ROOT set, every source path of a definition (after
 * following symbolic links, and every file a glob matches) must lie inside that folder; in production mode
 * (FUNNELCAST_PRODUCTION=1 or NODE_ENV=production) the check is on even without it, with the definition's own
 * folder as the root. So a definition handed in by a user cannot read /etc/passwd or another tenant's data.
 */
import { existsSync, readdirSync } from 'node:fs';
import { isAbsolute, join, resolve, sep } from 'node:path';
import { isInside, realLocation } from './contained';

export function productionMode(): boolean {
  return process.env.NODE_ENV === 'production' || process.env.FUNNELCAST_PRODUCTION === '1';
}

/** The folder sources must stay in, or undefined when anything readable may be read (development default). */
export function dataRoot(definitionDir: string): string | undefined {
  const configured = process.env.FUNNELCAST_DATA_ROOT;
  if (configured) return resolve(configured);
  return productionMode() ? resolve(definitionDir) : undefined;
}

const GLOB = /[*?[]/;

/** Files under `dir` (at most `limit`), for checking what a glob could match. */
function walk(dir: string, limit: number, out: string[] = []): string[] {
  if (out.length >= limit || !existsSync(dir)) return out;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) walk(p, limit, out);
    else out.push(p);
    if (out.length >= limit) break;
  }
  return out;
}

/** `*`, `?`, `**` and `[…]` of a glob as a regular expression over whole paths. */
function globRegex(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*' && pattern[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i);
      re += end > i ? pattern.slice(i, end + 1) : '\\[';
      i = end > i ? end : i;
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/**
 * The reasons a definition's source paths leave the data root (empty when they do not, or when no root applies).
 * A glob is checked on its fixed folder and on every file under it that it matches.
 */
export function sourcesOutsideRoot(paths: string[], definitionDir: string): string[] {
  const root = dataRoot(definitionDir);
  if (!root) return [];
  const problems: string[] = [];
  for (const p of paths) {
    const abs = isAbsolute(p) ? p : resolve(definitionDir, p);
    const fixed = GLOB.test(abs) ? abs.slice(0, abs.search(GLOB)).split(sep).slice(0, -1).join(sep) || sep : abs;
    const files = GLOB.test(abs) ? walk(fixed, 10_000).filter((f) => globRegex(abs).test(f)) : [];
    for (const f of [fixed, ...files]) {
      let inside: boolean;
      try {
        inside = isInside(root, f);
      } catch {
        inside = false; // a broken link cannot be shown to stay inside
      }
      if (!inside) {
        problems.push(
          `source path "${p}" reads ${safeReal(f)}, outside the data root ${root} ` +
            `(FUNNELCAST_DATA_ROOT${process.env.FUNNELCAST_DATA_ROOT ? '' : '; in production mode it defaults to the definition folder'})`,
        );
        break;
      }
    }
  }
  return problems;
}

function safeReal(p: string): string {
  try {
    return realLocation(p);
  } catch {
    return `${p} (a broken symbolic link)`;
  }
}
