/**
 * The shared core of the screening metrics for a two-class task (COVID = class 0 = positive by default).
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

export interface PositiveClassOption {
  /** Class index that counts as positive (default 0 = COVID). */
  positiveClass?: number;
}

export interface ThresholdOptions extends PositiveClassOption {
  /** Probability cut-off: predicted positive when probability >= threshold (default 0.5). */
  threshold?: number;
}

// Plain metrics use weight 1 per case, the bootstrap uses resample counts as weights.
export interface PreparedSample {
  positive: Uint8Array;
  scores: Float64Array;
  /** Indices sorted by score, highest first: curves walk it once per resample. */
  order: Int32Array;
  positiveClass: number;
}

export function checkPositiveClass(positiveClass: number): void {
  if (positiveClass !== 0 && positiveClass !== 1) {
    throw new UserFacingError(`positiveClass must be 0 or 1 in a two-class task, got ${positiveClass}`);
  }
}

export function checkThreshold(threshold: number): void {
  if (!Number.isFinite(threshold)) throw new UserFacingError(`threshold must be a finite number, got ${threshold}`);
}

export function prepare(
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

export function ratio(numerator: number, denominator: number): number {
  return denominator === 0 ? NaN : numerator / denominator;
}

export function unitWeights(count: number): Float64Array {
  return new Float64Array(count).fill(1);
}

/**
 * Walks the cases from the highest score down, one step per group of equal scores (ties must
 * move together, otherwise the curve depends on input order), reporting the cumulative weighted
 * true and false positives after each group.
 */
export function walkScoreGroups(
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

export function classTotals(sample: PreparedSample, weights: Float64Array) {
  let positives = 0;
  let negatives = 0;
  for (let i = 0; i < weights.length; i++) {
    if (sample.positive[i]) positives += weights[i];
    else negatives += weights[i];
  }
  return { positives, negatives };
}
