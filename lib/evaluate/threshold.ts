/** Choosing the operating threshold on validation data. */
import { UserFacingError } from '../core/errors';
import { rocCurve } from './ranking';
import { PositiveClassOption } from './sample';

export type ThresholdChoice = ({ method: 'youden' } | { method: 'sensitivity'; target: number }) & PositiveClassOption;

export interface ChosenThreshold {
  method: 'youden' | 'sensitivity';
  /** The sensitivity asked for (method 'sensitivity' only). */
  target?: number;
  threshold: number;
  /** Sensitivity and specificity reached on the data the threshold was chosen on. */
  sensitivity: number;
  specificity: number;
  youdenIndex: number;
}

/**
 * Picks an operating threshold on validation data (never on the test set it will be reported on):
 * - 'youden': maximises sensitivity + specificity - 1 (ties: the highest threshold);
 * - 'sensitivity': the highest threshold whose sensitivity reaches `target`, i.e. the best
 *   specificity among thresholds that catch at least that share of positive cases.
 * Thresholds are observed scores (predict positive when probability >= threshold).
 * Throws UserFacingError when the data lack one of the classes, since no choice is meaningful.
 */
export function chooseThreshold(
  trueLabels: readonly number[],
  positiveProbabilities: readonly number[],
  choice: ThresholdChoice,
): ChosenThreshold {
  if (choice.method === 'sensitivity' && !(choice.target > 0 && choice.target <= 1)) {
    throw new UserFacingError(`target sensitivity must be in (0, 1], got ${choice.target}`);
  }
  const points = rocCurve(trueLabels, positiveProbabilities, { positiveClass: choice.positiveClass }).slice(1);
  if (points.length === 0 || Number.isNaN(points[0].truePositiveRate) || Number.isNaN(points[0].falsePositiveRate)) {
    throw new UserFacingError('cannot choose a threshold: the validation data need both positive and negative cases');
  }
  let best = points[0];
  if (choice.method === 'youden') {
    // The tolerance keeps rounding (1 - 1/3 vs 2/3) from breaking ties towards lower thresholds.
    for (const point of points) {
      if (point.truePositiveRate - point.falsePositiveRate > best.truePositiveRate - best.falsePositiveRate + 1e-12)
        best = point;
    }
  } else {
    // The last point has sensitivity 1, so a point reaching any target in (0, 1] always exists.
    const target = choice.target - 1e-12;
    best = points.find((point) => point.truePositiveRate >= target) ?? points[points.length - 1];
  }
  return {
    method: choice.method,
    ...(choice.method === 'sensitivity' ? { target: choice.target } : {}),
    threshold: best.threshold,
    sensitivity: best.truePositiveRate,
    specificity: 1 - best.falsePositiveRate,
    youdenIndex: best.truePositiveRate - best.falsePositiveRate,
  };
}
