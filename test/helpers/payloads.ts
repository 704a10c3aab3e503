/**
 * The strings a workflow history's payloads hold: every Payload (an object with `metadata` and `data`) is decoded
 * (json/plain as JSON, anything else as UTF-8 text) and walked down to its strings. Failure messages and stack
 * traces are not payloads: they name code files, not artifacts.
 */
function text(bytes: unknown): string {
  if (bytes instanceof Uint8Array) return Buffer.from(bytes).toString('utf8');
  if (typeof bytes === 'string') return Buffer.from(bytes, 'base64').toString('utf8');
  return '';
}

function isPayload(v: unknown): v is { metadata?: Record<string, unknown>; data?: unknown } {
  return !!v && typeof v === 'object' && 'data' in v && 'metadata' in v;
}

function stringsIn(value: unknown, out: string[]): void {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) stringsIn(v, out);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      out.push(k);
      stringsIn(v, out);
    }
  }
}

function decode(p: { metadata?: Record<string, unknown>; data?: unknown }): unknown {
  const body = text(p.data);
  const encoding = text(p.metadata?.encoding);
  if (encoding === 'json/plain') {
    try {
      return JSON.parse(body);
    } catch {
      return body;
    }
  }
  return encoding === 'binary/null' ? null : body;
}

/** Every string (and object key) of every payload under `node`. */
export function payloadStrings(events: unknown[]): string[] {
  const out: string[] = [];
  const walk = (node: unknown): void => {
    if (isPayload(node)) return stringsIn(decode(node), out);
    if (node instanceof Uint8Array || !node || typeof node !== 'object') return;
    for (const v of Array.isArray(node) ? node : Object.values(node)) walk(v);
  };
  walk(events);
  return out;
}
