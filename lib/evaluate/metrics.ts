/**
 * Screening metrics for a two-class task (COVID = class 0 = positive by default).
 *
 * Inputs everywhere: `trueLabels` (class indices, 0 or 1) and `positiveProbabilities` (the
 * model's probability of the positive class, in [0, 1]). A case is predicted positive when its
 * probability is >= the threshold; at 0.5 with positive class 0 this equals softmax argmax
 * (argmax also breaks an exact 0.5 tie towards index 0).
 *
 * Undefined ratios (0/0, e.g. sensitivity with no positive cases, AUC with one class only) are
 * NaN and never throw, so an odd bootstrap resample or a tiny test set cannot crash a run.
 * JSON.stringify writes NaN (and the Infinity threshold that starts each curve) as null.
 */
import { UserFacingError } from '../core/errors';
import { createRandom } from '../core/random';

export interface PositiveClassOption {
  /** Class index that counts as positive (default 0 = COVID). */
  positiveClass?: number;
}

export interface ThresholdOptions extends PositiveClassOption {
  /** Probability cut-off: predicted positive when probability >= threshold (default 0.5). */
  threshold?: number;
}

export interface BinaryMetrics {
  /** Recall of the positive class: tp / (tp + fn). */
  sensitivity: number;
  /** tn / (tn + fp). */
  specificity: number;
  /** Positive predictive value (precision): tp / (tp + fp). */
  ppv: number;
  /** Negative predictive value: tn / (tn + fn). */
  npv: number;
  /** 2tp / (2tp + fp + fn). */
  f1: number;
  accuracy: number;
  /** Mean of sensitivity and specificity. */
  balancedAccuracy: number;
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

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

export const bootstrapMetricNames = [
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

// ---------------------------------------------------------------------------------------------
// Validation and the shared weighted core (plain metrics use weight 1, bootstrap uses counts).
// ---------------------------------------------------------------------------------------------

interface PreparedSample {
  positive: Uint8Array;
  scores: Float64Array;
  /** Indices sorted by score, highest first: curves walk it once per resample. */
  order: Int32Array;
  positiveClass: number;
}

function checkPositiveClass(positiveClass: number): void {
  if (positiveClass !== 0 && positiveClass !== 1) {
    throw new UserFacingError(`positiveClass must be 0 or 1 in a two-class task, got ${positiveClass}`);
  }
}

function checkThreshold(threshold: number): void {
  if (!Number.isFinite(threshold)) throw new UserFacingError(`threshold must be a finite number, got ${threshold}`);
}

function prepare(
  trueLabels: readonly number[],
  positiveProbabilities: readonly number[],
  positiveClass = 0,
): PreparedSample {
  checkPositiveClass(positiveClass);
  if (trueLabels.length !== positiveProbabilities.length) {
    throw new UserFacingError(
      `trueLabels has ${trueLabels.length} entries but positiveProbabilities has ${positiveProbabilities.length}`,
    );
  }
  const count = trueLabels.length;
  const positive = new Uint8Array(count);
  const scores = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const label = trueLabels[i];
    if (label !== 0 && label !== 1)
      throw new UserFacingError(`trueLabels[${i}] is ${label}; expected class index 0 or 1`);
    const probability = positiveProbabilities[i];
    if (!(probability >= 0 && probability <= 1)) {
      throw new UserFacingError(`positiveProbabilities[${i}] is ${probability}; expected a probability in [0, 1]`);
    }
    positive[i] = label === positiveClass ? 1 : 0;
    scores[i] = probability;
  }
  const order = Int32Array.from({ length: count }, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
  return { positive, scores, order, positiveClass };
}

function ratio(numerator: number, denominator: number): number {
  return denominator === 0 ? NaN : numerator / denominator;
}

function unitWeights(count: number): Float64Array {
  return new Float64Array(count).fill(1);
}

function countOutcomes(sample: PreparedSample, weights: Float64Array, threshold: number) {
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < sample.scores.length; i++) {
    const weight = weights[i];
    if (weight === 0) continue;
    const predictedPositive = sample.scores[i] >= threshold;
    if (sample.positive[i]) {
      if (predictedPositive) tp += weight;
      else fn += weight;
    } else if (predictedPositive) fp += weight;
    else tn += weight;
  }
  return { tp, fp, tn, fn };
}

function metricsFromOutcomes(outcomes: { tp: number; fp: number; tn: number; fn: number }): BinaryMetrics {
  const { tp, fp, tn, fn } = outcomes;
  const sensitivity = ratio(tp, tp + fn);
  const specificity = ratio(tn, tn + fp);
  return {
    sensitivity,
    specificity,
    ppv: ratio(tp, tp + fp),
    npv: ratio(tn, tn + fn),
    f1: ratio(2 * tp, 2 * tp + fp + fn),
    accuracy: ratio(tp + tn, tp + tn + fp + fn),
    balancedAccuracy: (sensitivity + specificity) / 2,
    tp,
    fp,
    tn,
    fn,
  };
}

/**
 * Walks the cases from the highest score down, one step per group of equal scores (ties must
 * move together, otherwise the curve depends on input order), reporting the cumulative weighted
 * true and false positives after each group.
 */
function walkScoreGroups(
  sample: PreparedSample,
  weights: Float64Array,
  visit: (threshold: number, truePositives: number, falsePositives: number) => void,
): void {
  const { order, scores, positive } = sample;
  let truePositives = 0;
  let falsePositives = 0;
  let start = 0;
  while (start < order.length) {
    const score = scores[order[start]];
    let end = start;
    while (end < order.length && scores[order[end]] === score) {
      const index = order[end];
      if (positive[index]) truePositives += weights[index];
      else falsePositives += weights[index];
      end++;
    }
    visit(score, truePositives, falsePositives);
    start = end;
  }
}

function classTotals(sample: PreparedSample, weights: Float64Array) {
  let positives = 0;
  let negatives = 0;
  for (let i = 0; i < weights.length; i++) {
    if (sample.positive[i]) positives += weights[i];
    else negatives += weights[i];
  }
  return { positives, negatives };
}

/** Trapezoid AUC over the tie-grouped ROC (= Mann-Whitney, ties 1/2) and step-wise average precision. */
function rankingScores(sample: PreparedSample, weights: Float64Array) {
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

function calibrationOf(sample: PreparedSample, weights: Float64Array, binCount: number): CalibrationResult {
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

// ---------------------------------------------------------------------------------------------
// Public metrics
// ---------------------------------------------------------------------------------------------

/** Extracts the positive class column from softmax rows (e.g. model.predict output as arrays). */
export function positiveColumn(probabilityRows: readonly (readonly number[])[], positiveClass = 0): number[] {
  return probabilityRows.map((row, index) => {
    if (row.length <= positiveClass)
      throw new UserFacingError(`probability row ${index} has no column ${positiveClass}`);
    return row[positiveClass];
  });
}

/** Predicted class indices at a threshold: positiveClass when probability >= threshold, else the other class. */
export function predictLabels(positiveProbabilities: readonly number[], options: ThresholdOptions = {}): number[] {
  const { positiveClass = 0, threshold = 0.5 } = options;
  checkPositiveClass(positiveClass);
  checkThreshold(threshold);
  return positiveProbabilities.map((probability) => (probability >= threshold ? positiveClass : 1 - positiveClass));
}

/** Counts per (true class, predicted class): rows are true classes, columns predicted classes. */
export function confusionMatrix(
  trueLabels: readonly number[],
  predictedLabels: readonly number[],
  classCount: number,
): number[][] {
  if (!Number.isInteger(classCount) || classCount < 1)
    throw new UserFacingError(`classCount must be a positive integer, got ${classCount}`);
  if (trueLabels.length !== predictedLabels.length) {
    throw new UserFacingError(
      `trueLabels has ${trueLabels.length} entries but predictedLabels has ${predictedLabels.length}`,
    );
  }
  const matrix = Array.from({ length: classCount }, () => new Array<number>(classCount).fill(0));
  const checkLabel = (name: string, label: number, index: number) => {
    if (!Number.isInteger(label) || label < 0 || label >= classCount) {
      throw new UserFacingError(`${name}[${index}] is ${label}; expected a class index from 0 to ${classCount - 1}`);
    }
  };
  trueLabels.forEach((trueLabel, index) => {
    const predictedLabel = predictedLabels[index];
    checkLabel('trueLabels', trueLabel, index);
    checkLabel('predictedLabels', predictedLabel, index);
    matrix[trueLabel][predictedLabel]++;
  });
  return matrix;
}

/** Sensitivity, specificity, predictive values, F1 and accuracies at one threshold (0/0 gives NaN). */
export function binaryMetrics(
  trueLabels: readonly number[],
  positiveProbabilities: readonly number[],
  options: ThresholdOptions = {},
): BinaryMetrics {
  const { positiveClass = 0, threshold = 0.5 } = options;
  checkThreshold(threshold);
  const sample = prepare(trueLabels, positiveProbabilities, positiveClass);
  return metricsFromOutcomes(countOutcomes(sample, unitWeights(trueLabels.length), threshold));
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

// ---------------------------------------------------------------------------------------------
// Everything in one JSON-serialisable object
// ---------------------------------------------------------------------------------------------

export interface ScreeningOptions extends PositiveClassOption {
  /** Names by class index (default ['COVID', 'NORMAL']). */
  classNames?: string[];
  /** A threshold chosen beforehand on validation data (see chooseThreshold), with a description. */
  chosenThreshold?: { threshold: number; description: string };
  calibrationBins?: number;
  bootstrap?: { resamples?: number; seed?: number; confidence?: number };
}

export interface ThresholdEvaluation {
  threshold: number;
  description: string;
  metrics: BinaryMetrics;
  /** Rows: true class index, columns: predicted class index. */
  confusionMatrix: number[][];
  /** Bootstrap intervals at this threshold (threshold-free metrics such as AUC included). */
  confidenceIntervals: Record<BootstrapMetricName, ConfidenceInterval>;
}

export interface ScreeningEvaluation {
  positiveClass: number;
  classNames: string[];
  counts: { total: number; positives: number; negatives: number };
  /** Threshold 0.5, i.e. softmax argmax. */
  atDefaultThreshold: ThresholdEvaluation;
  /** The validation-chosen threshold, or null when none was given. */
  atChosenThreshold: ThresholdEvaluation | null;
  auc: number;
  averagePrecision: number;
  roc: RocPoint[];
  precisionRecall: PrecisionRecallPoint[];
  calibration: CalibrationResult;
  bootstrap: { method: 'percentile'; resamples: number; seed: number; confidence: number };
}

/** Metrics at 0.5 and at a chosen threshold, curves, calibration and bootstrap CIs in one object. */
export function evaluateScreening(
  trueLabels: readonly number[],
  positiveProbabilities: readonly number[],
  options: ScreeningOptions = {},
): ScreeningEvaluation {
  const { positiveClass = 0, classNames = ['COVID', 'NORMAL'], chosenThreshold, calibrationBins = 10 } = options;
  const { resamples = 1000, seed = 42, confidence = 0.95 } = options.bootstrap ?? {};
  if (classNames.length !== 2) throw new UserFacingError(`classNames must name 2 classes, got ${classNames.length}`);
  const sample = prepare(trueLabels, positiveProbabilities, positiveClass);
  const { positives, negatives } = classTotals(sample, unitWeights(trueLabels.length));

  const evaluateAt = (threshold: number, description: string): ThresholdEvaluation => {
    const bootstrap = bootstrapConfidenceIntervals(trueLabels, positiveProbabilities, {
      resamples,
      seed,
      confidence,
      threshold,
      positiveClass,
      calibrationBins,
    });
    return {
      threshold,
      description,
      metrics: binaryMetrics(trueLabels, positiveProbabilities, { threshold, positiveClass }),
      confusionMatrix: confusionMatrix(
        trueLabels,
        predictLabels(positiveProbabilities, { threshold, positiveClass }),
        2,
      ),
      confidenceIntervals: bootstrap.intervals,
    };
  };

  const { auc, averagePrecision: averagePrecisionValue } = rankingScores(sample, unitWeights(trueLabels.length));
  return {
    positiveClass,
    classNames: classNames.slice(),
    counts: { total: trueLabels.length, positives, negatives },
    atDefaultThreshold: evaluateAt(0.5, 'argmax (probability >= 0.5)'),
    atChosenThreshold: chosenThreshold ? evaluateAt(chosenThreshold.threshold, chosenThreshold.description) : null,
    auc,
    averagePrecision: averagePrecisionValue,
    roc: rocCurve(trueLabels, positiveProbabilities, { positiveClass }),
    precisionRecall: precisionRecallCurve(trueLabels, positiveProbabilities, { positiveClass }),
    calibration: calibration(trueLabels, positiveProbabilities, calibrationBins, { positiveClass }),
    bootstrap: { method: 'percentile', resamples, seed, confidence },
  };
}
