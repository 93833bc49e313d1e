/**
 * Explanations and checks that change the input image and run the backbone again: the occlusion map
 * (Zeiler & Fergus 2014, Captum's Occlusion) and the deletion/insertion curves of faithfulness
 * (Petsiuk et al. 2018, RISE). "Grey" is 0 after caffe preprocessing, i.e. the ImageNet mean colour.
 * The perturbed images go through the feature engine in batches (ONNX Runtime where it loads).
 */
import { interruptible, stopIfInterrupted } from '../core/interrupt';
import * as tf from '@tensorflow/tfjs';
import { featureLength, FeatureEngine, imageSize } from '../core/contracts';
import { UserFacingError } from '../core/errors';
import { createRandom } from '../core/random';

const valuesPerImage = imageSize * imageSize * 3;
const pixels = imageSize * imageSize;

/** The head's probability of `classIndex` for each row of pooled features. */
export function headClassProbabilities(head: tf.LayersModel, pooled: Float32Array, classIndex: number): number[] {
  const count = pooled.length / featureLength;
  return tf.tidy(() => {
    const output = head.predict(tf.tensor2d(pooled, [count, featureLength])) as tf.Tensor2D;
    return Array.from(output.slice([0, classIndex], [count, 1]).dataSync());
  });
}

/** Pooled features of `count` preprocessed images, `batchSize` at a time. */
async function pooledInBatches(
  engine: FeatureEngine,
  inputs: Float32Array,
  count: number,
  batchSize: number,
): Promise<Float32Array> {
  const pooled = new Float32Array(count * featureLength);
  // Occlusion and faithfulness run hundreds of backbone passes per image: stop between batches.
  return interruptible(
    async (signal) => {
      for (let start = 0; start < count; start += batchSize) {
        const size = Math.min(batchSize, count - start);
        const batch = inputs.subarray(start * valuesPerImage, (start + size) * valuesPerImage);
        pooled.set(await engine.pooledFeatures(batch, size), start * featureLength);
        stopIfInterrupted(signal, () => 'explanation interrupted');
      }
      return pooled;
    },
    { finished: 'the backbone passes' },
  );
}

export interface OcclusionSettings {
  /** Side of the grey square in pixels. */
  patch: number;
  /** Step between patch positions in pixels. */
  stride: number;
}

/** Top-left corners along one axis; the last one touches the far edge, so every pixel is covered. */
export function patchStarts(settings: OcclusionSettings, size = imageSize): number[] {
  const { patch, stride } = settings;
  if (!Number.isInteger(patch) || !Number.isInteger(stride) || patch < 1 || stride < 1 || patch > size)
    throw new UserFacingError(`occlusion patch ${patch} and stride ${stride} must be whole numbers, patch 1..${size}`);
  const starts: number[] = [];
  for (let start = 0; start + patch <= size; start += stride) starts.push(start);
  if (starts[starts.length - 1] + patch < size) starts.push(size - patch);
  return starts;
}

export interface OcclusionResult {
  /** imageSize^2 values: mean drop in the class probability over the patches covering each pixel. */
  raw: Float32Array;
  /** Probability of the class on the unoccluded image. */
  baseProbability: number;
  /** Pooled features of every occluded image (reusable with other heads: the backbone is frozen). */
  occludedFeatures: Float32Array;
  /** Pooled features of the unoccluded image. */
  basePooled: Float32Array;
  positions: { x: number; y: number }[];
}

/** The occluded copies of one preprocessed image, one per patch position. */
export function occludedImages(
  input: Float32Array,
  settings: OcclusionSettings,
): {
  images: Float32Array;
  positions: { x: number; y: number }[];
} {
  if (input.length !== valuesPerImage)
    throw new UserFacingError(`occlusion needs one ${imageSize}x${imageSize}x3 preprocessed image`);
  const starts = patchStarts(settings);
  const positions = starts.flatMap((y) => starts.map((x) => ({ x, y })));
  const images = new Float32Array(positions.length * valuesPerImage);
  positions.forEach(({ x, y }, index) => {
    const offset = index * valuesPerImage;
    images.set(input, offset);
    for (let row = y; row < y + settings.patch; row++)
      images.fill(0, offset + (row * imageSize + x) * 3, offset + (row * imageSize + x + settings.patch) * 3);
  });
  return { images, positions };
}

/** Per-pixel mean of the drops of the patches that cover it. */
export function occlusionFromDrops(
  drops: readonly number[],
  positions: readonly { x: number; y: number }[],
  patch: number,
): Float32Array {
  const sums = new Float64Array(pixels);
  const counts = new Uint16Array(pixels);
  positions.forEach(({ x, y }, index) => {
    for (let row = y; row < y + patch; row++)
      for (let column = x; column < x + patch; column++) {
        sums[row * imageSize + column] += drops[index];
        counts[row * imageSize + column]++;
      }
  });
  return Float32Array.from(sums, (sum, pixel) => (counts[pixel] ? sum / counts[pixel] : 0));
}

/**
 * Occlusion map of one preprocessed image for `classIndex`: a grey patch at every position, one
 * backbone pass each, the drop in the class probability spread over the pixels the patch hid.
 */
export async function occlusionMap(
  input: Float32Array,
  engine: FeatureEngine,
  head: tf.LayersModel,
  classIndex: number,
  settings: OcclusionSettings,
  batchSize = 16,
  cached?: Float32Array,
): Promise<OcclusionResult> {
  const { images, positions } = occludedImages(input, settings);
  const basePooled = await engine.pooledFeatures(input, 1);
  const base = headClassProbabilities(head, basePooled, classIndex)[0];
  // The occluded images do not depend on the head: a cache of their features (same image, patch
  // and stride) saves the backbone passes, the bulk of the explanation checks' cost.
  const occludedFeatures =
    cached?.length === positions.length * featureLength
      ? cached
      : await pooledInBatches(engine, images, positions.length, batchSize);
  const drops = headClassProbabilities(head, occludedFeatures, classIndex).map((p) => base - p);
  return {
    raw: occlusionFromDrops(drops, positions, settings.patch),
    baseProbability: base,
    occludedFeatures,
    basePooled,
    positions,
  };
}

// ---------------------------------------------------------------------------------------------
// Deletion and insertion

/** Pixel indices, most relevant first; ties (e.g. the zeros after ReLU) in a seeded random order. */
export function relevanceOrder(heatmap: Float32Array, seed: number): Uint32Array {
  const random = createRandom(seed);
  const tieBreak = Float64Array.from(heatmap, () => random());
  const order = Array.from(heatmap.keys());
  order.sort((a, b) => heatmap[b] - heatmap[a] || tieBreak[a] - tieBreak[b]);
  return Uint32Array.from(order);
}

/**
 * Deletion: the most relevant `fraction` of pixels turned grey; insertion: a grey image with only
 * those pixels restored. One image per fraction, concatenated.
 */
export function perturbedSeries(
  input: Float32Array,
  order: Uint32Array,
  fractions: readonly number[],
  mode: 'deletion' | 'insertion',
): Float32Array {
  const images = new Float32Array(fractions.length * valuesPerImage);
  fractions.forEach((fraction, index) => {
    const offset = index * valuesPerImage;
    const changed = Math.round(fraction * pixels);
    if (mode === 'deletion') images.set(input, offset);
    for (let rank = 0; rank < changed; rank++) {
      const at = order[rank] * 3;
      for (let channel = 0; channel < 3; channel++)
        images[offset + at + channel] = mode === 'deletion' ? 0 : input[at + channel];
    }
  });
  return images;
}

/** Trapezoidal area under y(x) for increasing x. */
export function areaUnderCurve(x: readonly number[], y: readonly number[]): number {
  if (x.length !== y.length || x.length < 2) throw new UserFacingError('a curve needs at least two points');
  let area = 0;
  for (let i = 1; i < x.length; i++) area += ((x[i] - x[i - 1]) * (y[i] + y[i - 1])) / 2;
  return area;
}

export interface CurvePair {
  /** Fractions from 0 to 1, both ends included. */
  fractions: number[];
  deletion: number[];
  insertion: number[];
}

/**
 * Deletion and insertion curves of several heatmaps of one image. The end points are shared by
 * every map (the whole image, the all-grey image) and are passed in, so only the inner fractions
 * cost backbone passes: 2 x inner fractions x maps.
 */
export async function faithfulnessCurves(
  input: Float32Array,
  heatmaps: readonly Float32Array[],
  options: {
    engine: FeatureEngine;
    head: tf.LayersModel;
    classIndex: number;
    innerFractions: readonly number[];
    wholeProbability: number;
    greyProbability: number;
    seed: number;
    batchSize: number;
  },
): Promise<CurvePair[]> {
  const inner = options.innerFractions;
  if (inner.some((fraction, i) => !(fraction > 0 && fraction < 1) || (i > 0 && fraction <= inner[i - 1])))
    throw new UserFacingError(`faithfulness fractions must increase strictly inside (0, 1), got ${inner.join(', ')}`);
  const perMap = 2 * inner.length;
  const images = new Float32Array(heatmaps.length * perMap * valuesPerImage);
  heatmaps.forEach((heatmap, index) => {
    const order = relevanceOrder(heatmap, options.seed);
    images.set(perturbedSeries(input, order, inner, 'deletion'), index * perMap * valuesPerImage);
    images.set(perturbedSeries(input, order, inner, 'insertion'), (index * perMap + inner.length) * valuesPerImage);
  });
  const pooled = await pooledInBatches(options.engine, images, heatmaps.length * perMap, options.batchSize);
  const probabilities = headClassProbabilities(options.head, pooled, options.classIndex);
  return heatmaps.map((_, index) => {
    const row = probabilities.slice(index * perMap, (index + 1) * perMap);
    return {
      fractions: [0, ...inner, 1],
      deletion: [options.wholeProbability, ...row.slice(0, inner.length), options.greyProbability],
      insertion: [options.greyProbability, ...row.slice(inner.length), options.wholeProbability],
    };
  });
}
