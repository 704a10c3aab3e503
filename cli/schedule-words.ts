/**
 * A schedule in words ("every day at 02:00 UTC"), for `schedule list/describe` and the schedule's note in the
 * Temporal Web UI, which otherwise shows a cron expression as raw calendar JSON.
 */
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const UNIT_MS = { s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7, w: 6.048e8 } as const;
const UNIT_WORD = { s: 'second', m: 'minute', h: 'hour', d: 'day', w: 'week' } as const;

const two = (n: number) => String(n).padStart(2, '0');
const plural = (n: number, word: string) => (n === 1 ? `every ${word}` : `every ${n} ${word}s`);

/** `--every 1d+2h`: intervals count from the Unix epoch (a Thursday, 00:00 UTC), the offset shifts them. */
function intervalInWords(every: string): string {
  const [base, offset] = every.split('+');
  const unit = base.replace(/^\d+/, '') as keyof typeof UNIT_MS;
  const n = Number(/^\d+/.exec(base)![0]);
  const words = plural(n, UNIT_WORD[unit]);
  const offMs = offset ? Number(/^\d+/.exec(offset)![0]) * UNIT_MS[offset.replace(/^\d+/, '') as 's'] : 0;
  if (unit !== 'd' && unit !== 'w') return offMs ? `${words} (offset ${offset})` : words;
  const at = new Date(offMs);
  const time = `${two(at.getUTCHours())}:${two(at.getUTCMinutes())} UTC`;
  return unit === 'w'
    ? `${words} on ${DAYS[(4 + Math.floor(offMs / UNIT_MS.d)) % 7]} at ${time}`
    : `${words} at ${time}`;
}

const MACROS: Record<string, string> = {
  '@hourly': '0 * * * *',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@weekly': '0 0 * * 0',
  '@monthly': '0 0 1 * *',
};

function cronInWords(expr: string, tz: string): string | null {
  const f = (MACROS[expr.trim()] ?? expr).trim().split(/\s+/);
  if (f.length !== 5) return null;
  const [min, hour, dom, month, dow] = f;
  const num = (s: string) => /^\d+$/.test(s);
  const step = (s: string) => /^\*\/(\d+)$/.exec(s)?.[1];
  if (month !== '*') return null;
  if (dom === '*' && dow === '*') {
    if (step(min) && hour === '*') return plural(Number(step(min)), 'minute');
    if (num(min) && hour === '*') return `every hour at minute ${Number(min)}`;
    if (num(min) && step(hour)) return `${plural(Number(step(hour)), 'hour')} at minute ${Number(min)}`;
  }
  if (!num(min) || !num(hour)) return null;
  const time = `${two(Number(hour))}:${two(Number(min))} ${tz}`;
  if (dom === '*' && dow === '*') return `every day at ${time}`;
  if (dom === '*' && /^[0-7](,[0-7])*$/.test(dow)) {
    const days = dow.split(',').map((d) => DAYS[Number(d) % 7]);
    return `every ${days.join(', ')} at ${time}`;
  }
  if (dom === '*' && dow === '1-5') return `every weekday at ${time}`;
  if (num(dom) && dow === '*') return `on day ${Number(dom)} of every month at ${time}`;
  return null;
}

export function scheduleInWords(s: { cron: string | null; every: string | null; timezone: string }): string {
  if (s.every) return intervalInWords(s.every);
  const cron = s.cron ?? '';
  return cronInWords(cron, s.timezone) ?? `cron "${cron}" (${s.timezone})`;
}
