/**
 * Sanity checks for saliency maps (Adebayo et al. 2018): a map that barely changes when the model's
 * weights are randomised, or when the model was trained on shuffled labels, does not explain the
 * model. Here: Spearman rank correlation and SSIM between two maps, the head's cascading
 * randomisation (last layer first), and a percentile bootstrap of a mean.
 */
import * as tf from '@tensorflow/tfjs';
import { UserFacingError } from '../core/errors';
import { createRandom } from '../core/random';

/** Ranks 1..n with ties given their average rank. */
export function averageRanks(values: ArrayLike<number>): Float64Array {
  const order = Array.from({ length: values.length }, (_, i) => i).sort((a, b) => values[a] - values[b]);
  const ranks = new Float64Array(values.length);
  for (let start = 0; start < order.length;) {
    let end = start;
    while (end + 1 < order.length && values[order[end + 1]] === values[order[start]]) end++;
    const rank = (start + end) / 2 + 1;
    for (let i = start; i <= end; i++) ranks[order[i]] = rank;
    start = end + 1;
  }
  return ranks;
}

function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let meanA = 0;
  let meanB = 0;
  for (let i = 0; i < n; i++) {
    meanA += a[i] / n;
    meanB += b[i] / n;
  }
  let covariance = 0;
  let varianceA = 0;
  let varianceB = 0;
  for (let i = 0; i < n; i++) {
    covariance += (a[i] - meanA) * (b[i] - meanB);
    varianceA += (a[i] - meanA) ** 2;
    varianceB += (b[i] - meanB) ** 2;
  }
  // A flat map has no ranking: correlation 0 (nothing in common) rather than NaN.
  return varianceA > 0 && varianceB > 0 ? covariance / Math.sqrt(varianceA * varianceB) : 0;
}

/** Spearman's rank correlation (Pearson on average ranks), as scipy.stats.spearmanr. */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length || a.length < 2) throw new UserFacingError('spearman needs two maps of the same size');
  return pearson(averageRanks(a), averageRanks(b));
}

/**
 * Structural similarity of two size x size maps with values in [0, 1], as skimage's
 * structural_similarity(data_range=1) with its defaults: 7x7 uniform windows, sample covariance,
 * K1 0.01, K2 0.03, the mean over windows that fit inside the map.
 */
export function ssim(a: ArrayLike<number>, b: ArrayLike<number>, size: number, window = 7): number {
  if (a.length !== size * size || b.length !== size * size)
    throw new UserFacingError(`ssim needs two ${size}x${size} maps`);
  const c1 = 0.01 ** 2;
  const c2 = 0.03 ** 2;
  const n = window * window;
  const sampleCorrection = n / (n - 1);
  // Summed-area tables of a, b, a^2, b^2, ab make every window O(1).
  const stride = size + 1;
  const tables = [0, 1, 2, 3, 4].map(() => new Float64Array(stride * stride));
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const i = y * size + x;
      const terms = [a[i], b[i], a[i] * a[i], b[i] * b[i], a[i] * b[i]];
      const at = (y + 1) * stride + x + 1;
      tables.forEach((table, k) => {
        table[at] = terms[k] + table[at - 1] + table[at - stride] - table[at - stride - 1];
      });
    }
  const windowSum = (table: Float64Array, y: number, x: number) =>
    table[(y + window) * stride + x + window] -
    table[y * stride + x + window] -
    table[(y + window) * stride + x] +
    table[y * stride + x];
  let total = 0;
  let windows = 0;
  // skimage crops (window - 1) / 2 pixels at every border: the windows that fit entirely.
  for (let y = 0; y + window <= size; y++)
    for (let x = 0; x + window <= size; x++) {
      const [sa, sb, saa, sbb, sab] = tables.map((table) => windowSum(table, y, x) / n);
      const varianceA = (saa - sa * sa) * sampleCorrection;
      const varianceB = (sbb - sb * sb) * sampleCorrection;
      const covariance = (sab - sa * sb) * sampleCorrection;
      total += ((2 * sa * sb + c1) * (2 * covariance + c2)) / ((sa * sa + sb * sb + c1) * (varianceA + varianceB + c2));
      windows++;
    }
  return total / windows;
}

export interface RandomisationStage {
  /** e.g. "predictions", "predictions+fc2": the layers re-initialised so far, last first. */
  label: string;
  weights: tf.Tensor[];
}

/**
 * Cascading randomisation of a head's layers with weights, last layer first: stage k has the last
 * k weighted layers re-drawn (Glorot uniform kernels, zero biases, as Keras initialises a Dense
 * layer), the others as trained. The caller disposes the stages' tensors.
 */
export function cascadingRandomisation(head: tf.LayersModel, seed: number): RandomisationStage[] {
  const weighted = head.layers.filter((layer) => layer.getWeights().length > 0);
  const random = createRandom(seed);
  const current = head.getWeights().map((tensor) => tensor.clone());
  const stages: RandomisationStage[] = [];
  const names: string[] = [];
  for (const layer of [...weighted].reverse()) {
    names.push(layer.name);
    // Where this layer's tensors sit in head.getWeights(): layers list their weights in order.
    let offset = 0;
    for (const other of head.layers) {
      if (other === layer) break;
      offset += other.getWeights().length;
    }
    layer.getWeights().forEach((tensor, index) => {
      const shape = tensor.shape;
      const seed = Math.floor(random() * 2 ** 31);
      const fresh = tf.tidy(() =>
        shape.length === 2
          ? tf.randomUniform(shape, -1, 1, 'float32', seed).mul(Math.sqrt(6 / (shape[0] + shape[1])))
          : tf.zeros(shape),
      );
      current[offset + index].dispose();
      current[offset + index] = fresh;
    });
    stages.push({ label: names.join('+'), weights: current.map((tensor) => tensor.clone()) });
  }
  tf.dispose(current);
  return stages;
}

/** Runs `work` with the head's weights swapped for `weights`, then puts the trained ones back. */
export async function withHeadWeights<T>(
  head: tf.LayersModel,
  weights: tf.Tensor[],
  work: () => Promise<T> | T,
): Promise<T> {
  const trained = head.getWeights().map((tensor) => tensor.clone());
  head.setWeights(weights);
  try {
    return await work();
  } finally {
    head.setWeights(trained);
    tf.dispose(trained);
  }
}

export interface MeanWithInterval {
  mean: number;
  low: number;
  high: number;
  n: number;
}

/** The mean with a 95% percentile bootstrap interval (resampling the values with replacement). */
export function bootstrapMean(values: readonly number[], resamples: number, seed: number): MeanWithInterval {
  const n = values.length;
  const mean = n ? values.reduce((sum, value) => sum + value, 0) / n : NaN;
  if (n < 2) return { mean, low: mean, high: mean, n };
  const random = createRandom(seed);
  const means = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += values[Math.floor(random() * n)];
    means[r] = sum / n;
  }
  means.sort();
  const at = (q: number) => means[Math.min(resamples - 1, Math.max(0, Math.floor(q * resamples)))];
  return { mean, low: at(0.025), high: at(0.975), n };
}
