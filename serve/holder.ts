/**
 * The current serving snapshot and its atomic replacement. A request takes a reference to the snapshot when it
 * starts and answers entirely from it; a replaced snapshot is disposed only when its last request has finished.
 */
import type { PipelineDefinition } from '../pipelines/schema';
import { OnlineScorer } from './scoring';
import { disposeState, type ServingState } from './state';

export interface Snapshot {
  state: ServingState;
  scorer: OnlineScorer;
  refs: number;
  retired: boolean;
}

export class StateHolder {
  private current: Snapshot | null = null;
  /** Why there is no snapshot (for /readyz), or the last failed reload. */
  notReadyReason = 'loading the champion';
  switches = 0;
  /** Told the size of every POST batch of every snapshot. */
  onBatch?: (size: number) => void;

  constructor(private readonly def: PipelineDefinition) {}

  get snapshot(): Snapshot | null {
    return this.current;
  }

  /** Takes a reference to the current snapshot for one request; release it when the response is sent. */
  acquire(): Snapshot | null {
    const s = this.current;
    if (s) s.refs++;
    return s;
  }

  release(s: Snapshot): void {
    s.refs--;
    if (s.retired && s.refs === 0) disposeState(s.state);
  }

  /** Installs a new snapshot in one assignment; the old one is disposed after its last request. */
  install(state: ServingState): void {
    const old = this.current;
    this.current = {
      state,
      scorer: new OnlineScorer(state, this.def, (n) => this.onBatch?.(n)),
      refs: 0,
      retired: false,
    };
    if (old) {
      this.switches++;
      old.retired = true;
      if (old.refs === 0) disposeState(old.state);
    }
  }

  close(): void {
    if (this.current) {
      this.current.retired = true;
      if (this.current.refs === 0) disposeState(this.current.state);
      this.current = null;
    }
  }
}
