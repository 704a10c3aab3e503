/**
 * Peak memory and CPU of a whole process tree, sampled from /proc: every process whose environment carries the
 * bench's tag (the command, its children, worker threads' process, and detached ones such as the Temporal dev
 * server and its guard, which are not descendants by ppid). process.memoryUsage() would see one process only.
 */
import { readdirSync, readFileSync } from 'node:fs';

const PAGE = 4096;
const TICKS = 100; // USER_HZ on Linux

export interface Sample {
  /** ms since the epoch. */
  at: number;
  rssBytes: number;
  /** CPU seconds of every tagged process so far (user + system; exited processes keep their last value). */
  cpuSeconds: number;
}

function tagged(pid: string, tag: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').includes(tag);
  } catch {
    return false;
  }
}

export class TreeSampler {
  readonly samples: Sample[] = [];
  private readonly known = new Set<string>();
  private readonly cpu = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;

  /** `tag` is a NAME=value pair put in the environment of the processes to measure. */
  constructor(
    private readonly tag: string,
    private readonly everyMs = 200,
  ) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.everyMs);
  }

  stop(): Sample[] {
    if (this.timer) clearInterval(this.timer);
    this.sample();
    return this.samples;
  }

  sample(): void {
    let rss = 0;
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      if (!this.known.has(pid)) {
        if (!tagged(pid, this.tag)) continue;
        this.known.add(pid);
      }
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
        // Fields after the command name (which may contain spaces): state is field 3, utime 14, stime 15, rss 24.
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        this.cpu.set(pid, (Number(f[11]) + Number(f[12])) / TICKS);
        rss += Number(f[21]) * PAGE;
      } catch {
        // exited between the listing and the read: its last CPU value stays counted
      }
    }
    let cpu = 0;
    for (const v of this.cpu.values()) cpu += v;
    this.samples.push({ at: Date.now(), rssBytes: rss, cpuSeconds: cpu });
  }
}

/** Peak RSS and CPU seconds within [from, to] (ms since the epoch) of a sampled timeline. */
export function windowOf(samples: Sample[], from: number, to: number): { peakRssBytes: number; cpuSeconds: number } {
  let peak = 0;
  let first: Sample | null = null;
  let last: Sample | null = null;
  for (const s of samples) {
    if (s.at < from - 250 || s.at > to + 250) continue;
    peak = Math.max(peak, s.rssBytes);
    first ??= s;
    last = s;
  }
  return { peakRssBytes: peak, cpuSeconds: first && last ? last.cpuSeconds - first.cpuSeconds : 0 };
}
