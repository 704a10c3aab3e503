/** The binning worker of data.ts: edges and codes of its share of the features, written to the shared codes. */
import { parentPort, workerData } from 'node:worker_threads';
import { binFeatures, type BinShare } from './data';

parentPort!.postMessage(binFeatures(workerData as BinShare));
