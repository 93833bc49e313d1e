/** Calibration: reliability diagram bins, expected calibration error, Brier score. */
import { UserFacingError } from '../core/errors';
import { PositiveClassOption, prepare, PreparedSample, ratio, unitWeights } from './sample';

export interface CalibrationBin {
  /** Bin edges: [lower, upper), the last bin includes 1. */
  lower: number;
  upper: number;
  /** Mean predicted probability in the bin (NaN for an empty bin). */
  meanPredicted: number;
  /** Observed fraction of positive cases in the bin (NaN for an empty bin). */
  fractionPositive: number;
  count: number;
}

export interface CalibrationResult {
  bins: CalibrationBin[];
  /** Sum over bins of (count / n) * |fractionPositive - meanPredicted|. */
  expectedCalibrationError: number;
  /** Mean squared difference between probability and outcome (1 positive, 0 negative). */
  brierScore: number;
}

export function calibrationOf(sample: PreparedSample, weights: Float64Array, binCount: number): CalibrationResult {
  const predictedSums = new Float64Array(binCount);
  const positiveSums = new Float64Array(binCount);
  const counts = new Float64Array(binCount);
  let squaredErrorSum = 0;
  let total = 0;
  for (let i = 0; i < sample.scores.length; i++) {
    const weight = weights[i];
    if (weight === 0) continue;
    const probability = sample.scores[i];
    const outcome = sample.positive[i];
    const bin = Math.min(Math.floor(probability * binCount), binCount - 1);
    predictedSums[bin] += weight * probability;
    positiveSums[bin] += weight * outcome;
    counts[bin] += weight;
    squaredErrorSum += weight * (probability - outcome) ** 2;
    total += weight;
  }
  const bins: CalibrationBin[] = [];
  let calibrationError = 0;
  for (let bin = 0; bin < binCount; bin++) {
    const meanPredicted = ratio(predictedSums[bin], counts[bin]);
    const fractionPositive = ratio(positiveSums[bin], counts[bin]);
    if (counts[bin] > 0) calibrationError += (counts[bin] / total) * Math.abs(fractionPositive - meanPredicted);
    bins.push({
      lower: bin / binCount,
      upper: (bin + 1) / binCount,
      meanPredicted,
      fractionPositive,
      count: counts[bin],
    });
  }
  return {
    bins,
    expectedCalibrationError: total > 0 ? calibrationError : NaN,
    brierScore: ratio(squaredErrorSum, total),
  };
}

/** Reliability diagram bins (equal width on [0, 1]), expected calibration error and Brier score. */
export function calibration(
  trueLabels: readonly number[],
  positiveProbabilities: readonly number[],
  bins = 10,
  options: PositiveClassOption = {},
): CalibrationResult {
  if (!Number.isInteger(bins) || bins < 1)
    throw new UserFacingError(`calibration bins must be a positive integer, got ${bins}`);
  const sample = prepare(trueLabels, positiveProbabilities, options.positiveClass);
  return calibrationOf(sample, unitWeights(trueLabels.length), bins);
}
