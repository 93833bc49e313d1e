/** Percentile bootstrap confidence intervals for every screening metric. */
import { UserFacingError } from '../core/errors';
import { createRandom } from '../core/random';
import { calibrationOf } from './calibration';
import { countOutcomes, metricsFromOutcomes } from './confusion';
import { rankingScores } from './ranking';
import { checkThreshold, prepare, PreparedSample, ThresholdOptions, unitWeights } from './sample';

const bootstrapMetricNames = [
  'sensitivity',
  'specificity',
  'ppv',
  'npv',
  'f1',
  'accuracy',
  'balancedAccuracy',
  'auc',
  'averagePrecision',
  'brierScore',
  'expectedCalibrationError',
] as const;

export type BootstrapMetricName = (typeof bootstrapMetricNames)[number];

export interface ConfidenceInterval {
  /** The metric on the full data. */
  value: number;
  lower: number;
  upper: number;
  /** Resamples where the metric was defined (others, e.g. with no positives, are skipped). */
  resamplesUsed: number;
}

export interface BootstrapOptions extends ThresholdOptions {
  /** Number of resamples (default 1000). */
  resamples?: number;
  /** Seed for the resampling (default 42): the same seed gives the same intervals. */
  seed?: number;
  /** Central coverage of the interval (default 0.95). */
  confidence?: number;
  /** Bins for the expected calibration error (default 10). */
  calibrationBins?: number;
}

export interface BootstrapResult {
  method: 'percentile';
  resamples: number;
  seed: number;
  confidence: number;
  threshold: number;
  positiveClass: number;
  intervals: Record<BootstrapMetricName, ConfidenceInterval>;
}

function allMetricValues(sample: PreparedSample, weights: Float64Array, threshold: number, calibrationBins: number) {
  const metrics = metricsFromOutcomes(countOutcomes(sample, weights, threshold));
  const { auc, averagePrecision } = rankingScores(sample, weights);
  const { brierScore, expectedCalibrationError } = calibrationOf(sample, weights, calibrationBins);
  const values: Record<BootstrapMetricName, number> = {
    sensitivity: metrics.sensitivity,
    specificity: metrics.specificity,
    ppv: metrics.ppv,
    npv: metrics.npv,
    f1: metrics.f1,
    accuracy: metrics.accuracy,
    balancedAccuracy: metrics.balancedAccuracy,
    auc,
    averagePrecision,
    brierScore,
    expectedCalibrationError,
  };
  return values;
}

/** Quantile of sorted values with linear interpolation (numpy's default). */
function quantile(sortedValues: readonly number[], fraction: number): number {
  if (sortedValues.length === 0) return NaN;
  const position = fraction * (sortedValues.length - 1);
  const below = Math.floor(position);
  const above = Math.min(below + 1, sortedValues.length - 1);
  return sortedValues[below] + (sortedValues[above] - sortedValues[below]) * (position - below);
}

/**
 * Percentile bootstrap intervals for every metric: resample the cases with replacement (seeded,
 * so reruns agree), recompute, take the (1-confidence)/2 and (1+confidence)/2 quantiles.
 * A resample where a metric is undefined (e.g. no positives drawn) is skipped for that metric
 * only; `resamplesUsed` says how many counted. Each resample is a weight vector over the cases,
 * so no per-resample sorting is needed.
 */
export function bootstrapConfidenceIntervals(
  trueLabels: readonly number[],
  positiveProbabilities: readonly number[],
  options: BootstrapOptions = {},
): BootstrapResult {
  const {
    resamples = 1000,
    seed = 42,
    confidence = 0.95,
    threshold = 0.5,
    positiveClass = 0,
    calibrationBins = 10,
  } = options;
  if (!Number.isInteger(resamples) || resamples < 1)
    throw new UserFacingError(`bootstrap resamples must be a positive integer, got ${resamples}`);
  if (!(confidence > 0 && confidence < 1))
    throw new UserFacingError(`bootstrap confidence must be between 0 and 1, got ${confidence}`);
  checkThreshold(threshold);
  const sample = prepare(trueLabels, positiveProbabilities, positiveClass);
  const count = trueLabels.length;
  const pointValues = allMetricValues(sample, unitWeights(count), threshold, calibrationBins);

  const resampledValues = Object.fromEntries(bootstrapMetricNames.map((name) => [name, [] as number[]])) as Record<
    BootstrapMetricName,
    number[]
  >;
  const random = createRandom(seed);
  const weights = new Float64Array(count);
  for (let resample = 0; resample < resamples && count > 0; resample++) {
    weights.fill(0);
    for (let draw = 0; draw < count; draw++) weights[Math.floor(random() * count)]++;
    const values = allMetricValues(sample, weights, threshold, calibrationBins);
    for (const name of bootstrapMetricNames) {
      if (!Number.isNaN(values[name])) resampledValues[name].push(values[name]);
    }
  }

  const tail = (1 - confidence) / 2;
  const intervals = {} as Record<BootstrapMetricName, ConfidenceInterval>;
  for (const name of bootstrapMetricNames) {
    const sorted = resampledValues[name].sort((a, b) => a - b);
    intervals[name] = {
      value: pointValues[name],
      lower: quantile(sorted, tail),
      upper: quantile(sorted, 1 - tail),
      resamplesUsed: sorted.length,
    };
  }
  return { method: 'percentile', resamples, seed, confidence, threshold, positiveClass, intervals };
}
