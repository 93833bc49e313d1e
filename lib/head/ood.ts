/**
 * Out-of-distribution guard on the pooled 2,048 backbone features: how far an image's features lie
 * from the training images' features. Two scores:
 * - 'mahalanobis': distance to the training mean under a Ledoit-Wolf shrunk covariance
 *   (sigma = alpha * m * I + (1 - alpha) * S, alpha from the data, m = trace(S) / d);
 * - 'knn': cosine distance to the k-th nearest training image (features L2-normalised).
 * An image is flagged when its score exceeds a percentile of the validation images' scores.
 */
import * as tf from '@tensorflow/tfjs';
import { featureLength } from '../core/contracts';
import { UserFacingError } from '../core/errors';

export type GuardMethod = 'mahalanobis' | 'knn';
export const guardMethods: readonly GuardMethod[] = ['mahalanobis', 'knn'];

export interface GuardModel {
  method: GuardMethod;
  /** Training images the model of the features was fitted on. */
  trainingCount: number;
  /**
   * mahalanobis: the feature mean, then the lower Cholesky factor of sigma packed row by row.
   * knn: unit-length training features.
   */
  data: Float32Array;
  /** mahalanobis: the Ledoit-Wolf shrinkage alpha. */
  shrinkage?: number;
  /** knn: which neighbour's distance is the score. */
  neighbours?: number;
}

export interface Guard extends GuardModel {
  /** Scores above it are out of distribution. */
  threshold: number;
  /** The percentile of validation scores the threshold is. */
  percentile: number;
  validationCount: number;
}

const d = featureLength;
const packedLength = (d * (d + 1)) / 2;

/** Values the model's data must hold: what a truncated file is checked against. */
export function guardDataLength(method: GuardMethod, trainingCount: number): number {
  return method === 'mahalanobis' ? d + packedLength : trainingCount * d;
}

function rowCount(features: Float32Array): number {
  if (features.length % d !== 0)
    throw new UserFacingError(`features must be rows of ${d} values, got ${features.length}`);
  return features.length / d;
}

/** Fits the chosen model of the training features. */
function fitGuardModel(training: Float32Array, method: GuardMethod, neighbours = 5): GuardModel {
  const count = rowCount(training);
  if (method === 'knn') {
    if (count < neighbours)
      throw new UserFacingError(`the k-NN guard needs at least ${neighbours} training images, got ${count}`);
    return { method, trainingCount: count, data: unitRows(training), neighbours };
  }
  if (count < 2) throw new UserFacingError(`the Mahalanobis guard needs at least 2 training images, got ${count}`);
  const { mean, covariance, shrinkage } = ledoitWolf(training, count);
  const factor = choleskyPacked(covariance);
  const data = new Float32Array(d + packedLength);
  data.set(mean, 0);
  data.set(factor, d);
  return { method, trainingCount: count, data, shrinkage };
}

/** Scores of feature rows: higher means further from the training images. */
export function guardScores(model: GuardModel, features: Float32Array): number[] {
  const count = rowCount(features);
  if (count === 0) return [];
  return model.method === 'knn' ? knnScores(model, features, count) : mahalanobisScores(model, features, count);
}

/** Quantile with linear interpolation (numpy's default), percentile in [0, 100]. */
export function percentileOf(values: readonly number[], percentile: number): number {
  if (values.length === 0) throw new UserFacingError('a percentile of no values is undefined');
  if (!(percentile >= 0 && percentile <= 100))
    throw new UserFacingError(`the guard percentile must be from 0 to 100, got ${percentile}`);
  const sorted = [...values].sort((a, b) => a - b);
  const position = (percentile / 100) * (sorted.length - 1);
  const below = Math.floor(position);
  const above = Math.min(below + 1, sorted.length - 1);
  return sorted[below] + (sorted[above] - sorted[below]) * (position - below);
}

/** The guard: the model of the training features and a threshold from the validation scores. */
export function fitGuard(
  training: Float32Array,
  validation: Float32Array,
  options: { method: GuardMethod; percentile: number; neighbours?: number },
): Guard {
  const model = fitGuardModel(training, options.method, options.neighbours);
  const scores = guardScores(model, validation);
  if (scores.length === 0) throw new UserFacingError('the guard threshold needs validation images; there are none');
  return {
    ...model,
    threshold: percentileOf(scores, options.percentile),
    percentile: options.percentile,
    validationCount: scores.length,
  };
}

// --- Mahalanobis --------------------------------------------------------------------------------

/**
 * Mean, shrunk covariance and shrinkage (Ledoit & Wolf 2004, as scikit-learn's ledoit_wolf):
 * alpha = min(b2, d2) / d2 with d2 = ||S - m I||^2 and b2 = (sum_k |x_k|^4 / n - ||S||^2) / n.
 */
function ledoitWolf(training: Float32Array, count: number) {
  const mean = new Float64Array(d);
  for (let row = 0; row < count; row++) for (let j = 0; j < d; j++) mean[j] += training[row * d + j];
  for (let j = 0; j < d; j++) mean[j] /= count;
  const centred = new Float32Array(count * d);
  let fourthMoments = 0;
  for (let row = 0; row < count; row++) {
    let squaredNorm = 0;
    for (let j = 0; j < d; j++) {
      const value = training[row * d + j] - mean[j];
      centred[row * d + j] = value;
      squaredNorm += value * value;
    }
    fourthMoments += squaredNorm * squaredNorm;
  }
  // S = Xc^T Xc / n on tfjs (6 GFLOP for 1,430 images); transposed first, as wasm's matMul prefers.
  // Read outside tf.tidy: tidy walks a returned typed array element by element (minutes for 4M values).
  const product = tf.tidy(() => {
    const x = tf.tensor2d(centred, [count, d]);
    return tf.matMul(x.transpose(), x).div(count);
  });
  const sample = product.dataSync() as Float32Array;
  product.dispose();
  let trace = 0;
  let squaredFrobenius = 0;
  for (let i = 0; i < d; i++) trace += sample[i * d + i];
  for (let i = 0; i < sample.length; i++) squaredFrobenius += sample[i] * sample[i];
  const m = trace / d;
  const dispersion = squaredFrobenius - d * m * m;
  const spread = Math.max(0, (fourthMoments / count - squaredFrobenius) / count);
  const shrinkage = dispersion > 0 ? Math.min(spread, dispersion) / dispersion : 1;
  const covariance = new Float64Array(d * d);
  for (let i = 0; i < d * d; i++) covariance[i] = (1 - shrinkage) * sample[i];
  for (let i = 0; i < d; i++) covariance[i * d + i] += shrinkage * m;
  return { mean: Float32Array.from(mean), covariance, shrinkage };
}

/** Lower Cholesky factor of a symmetric positive definite d x d matrix, packed row by row. */
function choleskyPacked(matrix: Float64Array): Float64Array {
  const lower = new Float64Array(packedLength);
  for (let i = 0; i < d; i++) {
    const ri = (i * (i + 1)) / 2;
    for (let j = 0; j <= i; j++) {
      const rj = (j * (j + 1)) / 2;
      let sum = matrix[i * d + j];
      for (let k = 0; k < j; k++) sum -= lower[ri + k] * lower[rj + k];
      lower[ri + j] = i === j ? Math.sqrt(sum) : sum / lower[rj + j];
    }
    // NaN from the square root of a non-positive pivot.
    if (!(lower[ri + i] > 0)) throw new UserFacingError('the shrunk feature covariance is not positive definite');
  }
  return lower;
}

/** sqrt((x - mean)^T sigma^-1 (x - mean)) = |L^-1 (x - mean)|, by forward substitution. */
function mahalanobisScores(model: GuardModel, features: Float32Array, count: number): number[] {
  const { data } = model;
  const z = new Float64Array(d);
  const scores: number[] = [];
  for (let row = 0; row < count; row++) {
    let squared = 0;
    for (let i = 0; i < d; i++) {
      const ri = d + (i * (i + 1)) / 2;
      let sum = features[row * d + i] - data[i];
      for (let k = 0; k < i; k++) sum -= data[ri + k] * z[k];
      z[i] = sum / data[ri + i];
      squared += z[i] * z[i];
    }
    scores.push(Math.sqrt(squared));
  }
  return scores;
}

// --- k nearest neighbours -----------------------------------------------------------------------

function unitRows(features: Float32Array): Float32Array {
  const unit = new Float32Array(features.length);
  for (let row = 0; row < features.length / d; row++) {
    let norm = 0;
    for (let j = 0; j < d; j++) norm += features[row * d + j] ** 2;
    const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let j = 0; j < d; j++) unit[row * d + j] = features[row * d + j] * scale;
  }
  return unit;
}

/** 1 - cosine similarity to the k-th most similar training image. */
function knnScores(model: GuardModel, features: Float32Array, count: number): number[] {
  const k = model.neighbours ?? 5;
  const similarities = tf.tidy(() => {
    const training = tf.tensor2d(model.data, [model.trainingCount, d]);
    const queries = tf.tensor2d(unitRows(features), [count, d]);
    return tf.topk(tf.matMul(queries, training.transpose()), k).values.arraySync() as number[][];
  });
  return similarities.map((row) => 1 - row[k - 1]);
}
