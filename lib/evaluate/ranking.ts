/** Threshold-free ranking metrics: ROC and precision-recall curves, ROC AUC, average precision. */
import {
  classTotals,
  PositiveClassOption,
  prepare,
  PreparedSample,
  ratio,
  unitWeights,
  walkScoreGroups,
} from './sample';

export interface RocPoint {
  /** Cut-off for this point; the first point (0, 0) has Infinity: nothing predicted positive. */
  threshold: number;
  falsePositiveRate: number;
  truePositiveRate: number;
}

export interface PrecisionRecallPoint {
  /** Cut-off for this point; the first point (recall 0, precision 1) has Infinity. */
  threshold: number;
  precision: number;
  recall: number;
}

/** Trapezoid AUC over the tie-grouped ROC (= Mann-Whitney, ties 1/2) and step-wise average precision. */
export function rankingScores(sample: PreparedSample, weights: Float64Array) {
  const { positives, negatives } = classTotals(sample, weights);
  let area = 0;
  let precisionSum = 0;
  let previousTruePositives = 0;
  let previousFalsePositives = 0;
  walkScoreGroups(sample, weights, (_threshold, truePositives, falsePositives) => {
    area += ((falsePositives - previousFalsePositives) * (truePositives + previousTruePositives)) / 2;
    const newTruePositives = truePositives - previousTruePositives;
    if (newTruePositives > 0) precisionSum += newTruePositives * (truePositives / (truePositives + falsePositives));
    previousTruePositives = truePositives;
    previousFalsePositives = falsePositives;
  });
  return {
    auc: positives > 0 && negatives > 0 ? area / (positives * negatives) : NaN,
    averagePrecision: positives > 0 ? precisionSum / positives : NaN,
  };
}

/** ROC points from (0, 0) to (1, 1), one per distinct score, highest threshold first. */
export function rocCurve(
  trueLabels: readonly number[],
  positiveProbabilities: readonly number[],
  options: PositiveClassOption = {},
): RocPoint[] {
  const sample = prepare(trueLabels, positiveProbabilities, options.positiveClass);
  const weights = unitWeights(trueLabels.length);
  const { positives, negatives } = classTotals(sample, weights);
  const points: RocPoint[] = [
    { threshold: Infinity, falsePositiveRate: ratio(0, negatives), truePositiveRate: ratio(0, positives) },
  ];
  walkScoreGroups(sample, weights, (threshold, truePositives, falsePositives) => {
    points.push({
      threshold,
      falsePositiveRate: ratio(falsePositives, negatives),
      truePositiveRate: ratio(truePositives, positives),
    });
  });
  return points;
}

/**
 * Area under the ROC curve: the probability that a random positive case scores higher than a
 * random negative one, ties counting 1/2 (Mann-Whitney U / (P * N)). NaN without both classes.
 */
export function rocAuc(
  trueLabels: readonly number[],
  positiveProbabilities: readonly number[],
  options: PositiveClassOption = {},
): number {
  const sample = prepare(trueLabels, positiveProbabilities, options.positiveClass);
  return rankingScores(sample, unitWeights(trueLabels.length)).auc;
}

/** Precision-recall points, recall rising; starts at (recall 0, precision 1) like scikit-learn's plot. */
export function precisionRecallCurve(
  trueLabels: readonly number[],
  positiveProbabilities: readonly number[],
  options: PositiveClassOption = {},
): PrecisionRecallPoint[] {
  const sample = prepare(trueLabels, positiveProbabilities, options.positiveClass);
  const weights = unitWeights(trueLabels.length);
  const { positives } = classTotals(sample, weights);
  const points: PrecisionRecallPoint[] = [{ threshold: Infinity, precision: 1, recall: ratio(0, positives) }];
  walkScoreGroups(sample, weights, (threshold, truePositives, falsePositives) => {
    points.push({
      threshold,
      precision: ratio(truePositives, truePositives + falsePositives),
      recall: ratio(truePositives, positives),
    });
  });
  return points;
}

/**
 * Average precision as scikit-learn defines it: sum over thresholds of (R_n - R_(n-1)) * P_n,
 * a step function with no interpolation. NaN when there are no positive cases.
 */
export function averagePrecision(
  trueLabels: readonly number[],
  positiveProbabilities: readonly number[],
  options: PositiveClassOption = {},
): number {
  const sample = prepare(trueLabels, positiveProbabilities, options.positiveClass);
  return rankingScores(sample, unitWeights(trueLabels.length)).averagePrecision;
}
