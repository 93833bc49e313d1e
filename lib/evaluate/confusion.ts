/** Metrics at one threshold: predicted labels, the confusion matrix, sensitivity, specificity, PPV, NPV, F1. */
import { UserFacingError } from '../core/errors';
import {
  checkPositiveClass,
  checkThreshold,
  prepare,
  PreparedSample,
  ratio,
  ThresholdOptions,
  unitWeights,
} from './sample';

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

export function countOutcomes(sample: PreparedSample, weights: Float64Array, threshold: number) {
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

export function metricsFromOutcomes(outcomes: { tp: number; fp: number; tn: number; fn: number }): BinaryMetrics {
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
