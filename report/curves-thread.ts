/**
 * Worker-thread job for the report's held-out curves (activities/finish.ts): ROC, PR, lift by decile and
 * calibration over every held-out user. Each curve sorts the scores; over the ~1 M held-out users of a 10 M-event
 * run that held the worker's main thread for 2 s (issue 17).
 */
import { serveThread } from '../infra/threads';
import { calibrationBins, liftByDecile, prCurve, rocCurve } from '../ml/metrics';

export interface CurvesJob {
  y: Float64Array;
  p: Float64Array;
  /** Only the ROC curve (the champion's, drawn over the model's). */
  rocOnly?: boolean;
}

export type Curves = {
  roc: ReturnType<typeof rocCurve>;
  pr?: ReturnType<typeof prCurve>;
  lift?: ReturnType<typeof liftByDecile>;
  calibration?: ReturnType<typeof calibrationBins>;
};

serveThread(({ y, p, rocOnly }: CurvesJob): Curves => {
  if (rocOnly) return { roc: rocCurve(y, p) };
  return { roc: rocCurve(y, p), pr: prCurve(y, p), lift: liftByDecile(y, p), calibration: calibrationBins(y, p) };
});
