/** Worker-thread job for computeClustersInThread. */
import { serveThread } from '../infra/threads';
import { computeClusters, type ClusterJob } from './clusters';

serveThread((job: ClusterJob) => computeClusters(job));
