/**
 * The LSTM's fit as one attempt of a training activity runs it: a heartbeat per epoch (and between, while an epoch
 * runs), and with a shared store (FUNNELCAST_STORE) its checkpoint stored as whole epochs, so a retry on any worker
 * resumes from the last epoch the lost attempt finished (activities/checkpoint-store.ts). Without a store the
 * checkpoint folder is on the one machine every attempt runs on.
 */
import { trainLstm, type LstmTrainOptions, type LstmTrainResult } from '../ml/lstm';
import { EpochCheckpointSync } from './checkpoint-store';
import { heartbeat, withHeartbeat } from './context';

export async function fitLstm(
  name: string,
  opts: Omit<LstmTrainOptions, 'onEpoch'>,
): Promise<{ r: LstmTrainResult; finish: () => Promise<void> }> {
  const stored = EpochCheckpointSync.forDir(opts.outDir);
  await stored?.restore();
  let last: unknown = { model: name, epoch: 0 };
  const onEpoch: LstmTrainOptions['onEpoch'] = (e) => {
    stored?.saved(e.epoch);
    heartbeat((last = { model: name, ...e }));
  };
  const r = await withHeartbeat(trainLstm({ ...opts, onEpoch }), () => last).catch(async (e) => {
    await stored?.flush().catch(() => undefined); // a stopped attempt leaves its last whole epoch for the retry
    throw e;
  });
  return { r, finish: async () => stored?.finish() };
}
