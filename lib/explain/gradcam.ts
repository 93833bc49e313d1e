/**
 * Grad-CAM as the article computes it, on the frozen backbone's conv5_block3_out map.
 *
 * The classifier is backbone -> conv map [1,7,7,2048] -> global average pooling -> head, so the
 * gradient of a class score with respect to the conv map only needs the (small) head: the
 * backbone is run once, outside the tape, and the map is fed in as the variable.
 *
 * Article (Python):
 *   loss = predictions[:, CLASS_INDEX]; grads = tape.gradient(loss, conv_outputs)[0]
 *   weights = mean(grads, axis=(0, 1)); cam = np.ones(7x7) + sum_k weights[k] * output[:, :, k]
 *   cam = cv2.resize(cam, (224, 224)); cam = np.maximum(cam, 0)
 *   heatmap = (cam - cam.min()) / (cam.max() - cam.min())
 *   cam = cv2.applyColorMap(np.uint8(255 * heatmap), cv2.COLORMAP_JET)
 *   output_image = cv2.addWeighted(image_bgr, 0.5, cam, 1, 0)
 */
import * as tf from '@tensorflow/tfjs';
import { applyColormap, roundToUint8 } from './colormap';
import { imageSize } from '../core/contracts';
import { UserFacingError } from '../core/errors';

export interface GradCamMap {
  /** cam = 1 + sum_k w_k A_k, height*width values, row-major, before resizing and ReLU. */
  cam: Float32Array;
  height: number;
  width: number;
  /** w_k: spatial mean of d(score)/d(A_k), one per channel. */
  channelWeights: Float32Array;
  /** The head's softmax output for this image. */
  probabilities: number[];
}

export interface GradCamResult {
  /** outputSize*outputSize values in [0, 1], row-major. */
  heatmap: Float32Array;
  probabilities: number[];
}

export function checkConvMap(convMap: tf.Tensor4D): void {
  if (!(convMap instanceof tf.Tensor) || convMap.rank !== 4) {
    throw new UserFacingError('Grad-CAM needs the conv map as a rank-4 tensor [1, height, width, channels]');
  }
  if (convMap.shape[0] !== 1) {
    throw new UserFacingError(`Grad-CAM explains one image at a time; got a batch of ${convMap.shape[0]} conv maps`);
  }
  if (convMap.isDisposed) throw new UserFacingError('Grad-CAM was given a conv map tensor that is already disposed');
}

function checkClassIndex(classIndex: number, classCount: number): void {
  if (!Number.isInteger(classIndex) || classIndex < 0 || classIndex >= classCount) {
    throw new UserFacingError(
      `class index ${classIndex} is out of range: the head has ${classCount} outputs (0..${classCount - 1})`,
    );
  }
}

export function headOutput(head: tf.LayersModel, pooled: tf.Tensor): tf.Tensor2D {
  const output = head.apply(pooled, { training: false });
  if (Array.isArray(output) || !(output instanceof tf.Tensor) || output.rank !== 2) {
    throw new UserFacingError('the Grad-CAM head must be a model with one output of shape [batch, classes]');
  }
  return output as tf.Tensor2D;
}

/**
 * d(class score)/d(conv map): the gradient of one class's softmax output with respect to the conv
 * map, through global average pooling and the head. Call inside tf.tidy; the class score is picked
 * with a one-hot multiply + sum, because the wasm backend has no gradient for gather.
 */
export function classScoreGradients(convMap: tf.Tensor4D, head: tf.LayersModel, classIndex: number): tf.Tensor4D {
  const classCount = headOutput(head, tf.mean(convMap, [1, 2])).shape[1];
  checkClassIndex(classIndex, classCount);
  const classMask = tf.oneHot([classIndex], classCount).toFloat();
  const classScore = (map: tf.Tensor): tf.Scalar => tf.sum(tf.mul(headOutput(head, tf.mean(map, [1, 2])), classMask));
  return tf.grad(classScore)(convMap) as tf.Tensor4D;
}

/** The un-resized class activation map and the channel weights (exported for tests and notebooks). */
export function gradCamMap(convMap: tf.Tensor4D, head: tf.LayersModel, classIndex: number): GradCamMap {
  checkConvMap(convMap);
  const [, height, width, channels] = convMap.shape;
  const headInput = head.inputs[0]?.shape;
  const headChannels = headInput ? headInput[headInput.length - 1] : null;
  if (headChannels !== null && headChannels !== undefined && headChannels !== channels) {
    throw new UserFacingError(
      `the head expects ${headChannels} pooled features but the conv map has ${channels} channels`,
    );
  }
  const result = tf.tidy(() => {
    const probabilities = headOutput(head, tf.mean(convMap, [1, 2]));
    const gradients = classScoreGradients(convMap, head, classIndex);
    const channelWeights = tf.mean(gradients, [0, 1, 2]);
    // np.ones + sum over channels of w_k * A_k.
    const cam = tf.add(tf.scalar(1), tf.sum(tf.mul(convMap.squeeze([0]), channelWeights), -1));
    return { cam, channelWeights, probabilities };
  });
  try {
    return {
      cam: Float32Array.from(result.cam.dataSync()),
      height,
      width,
      channelWeights: Float32Array.from(result.channelWeights.dataSync()),
      probabilities: Array.from(result.probabilities.dataSync()),
    };
  } finally {
    tf.dispose([result.cam, result.channelWeights, result.probabilities]);
  }
}

/**
 * One axis of cv2.resize INTER_LINEAR: the two source indices and the weight of the second.
 * OpenCV treats the axes differently at the borders: columns outside the source get weight 0 on
 * the neighbour, rows only have their index clamped and keep their fractional weight (which can
 * move the value by one float32 ulp). Both are copied so the numbers match bit for bit.
 */
function linearAxis(
  sourceSize: number,
  targetSize: number,
  clampWeights: boolean,
): { first: Int32Array; second: Int32Array; weight: Float32Array } {
  const scale = sourceSize / targetSize;
  const first = new Int32Array(targetSize);
  const second = new Int32Array(targetSize);
  const weight = new Float32Array(targetSize);
  const clampIndex = (index: number): number => Math.min(Math.max(index, 0), sourceSize - 1);
  for (let target = 0; target < targetSize; target++) {
    // Half-pixel centres, computed in float32 as OpenCV does.
    let position = Math.fround((target + 0.5) * scale - 0.5);
    let index = Math.floor(position);
    position = Math.fround(position - index);
    if (clampWeights && index < 0) {
      index = 0;
      position = 0;
    }
    if (clampWeights && index >= sourceSize - 1) {
      index = sourceSize - 1;
      position = 0;
    }
    first[target] = clampIndex(index);
    second[target] = clampIndex(index + 1);
    weight[target] = position;
  }
  return { first, second, weight };
}

/**
 * Bilinear resize of a single-channel float map, matching cv2.resize(map, (w, h)) with its default
 * INTER_LINEAR: pixel centres at (i + 0.5) * scale - 0.5, border replication, a horizontal pass then
 * a vertical pass, each in float32 (checked bit for bit against OpenCV 4.6 on a 7x7 -> 224x224 map).
 * Done here rather than with tf.image.resizeBilinear so that the convention (halfPixelCenters,
 * alignCorners, edge clamping) is certain.
 */
export function resizeBilinear(
  source: Float32Array,
  sourceHeight: number,
  sourceWidth: number,
  targetHeight: number,
  targetWidth: number,
): Float32Array {
  if (source.length !== sourceHeight * sourceWidth || sourceHeight < 1 || sourceWidth < 1) {
    throw new UserFacingError(
      `resizeBilinear: ${source.length} values do not make a ${sourceHeight}x${sourceWidth} map`,
    );
  }
  if (!Number.isInteger(targetHeight) || !Number.isInteger(targetWidth) || targetHeight < 1 || targetWidth < 1) {
    throw new UserFacingError(`resizeBilinear: target size ${targetHeight}x${targetWidth} must be positive integers`);
  }
  const columns = linearAxis(sourceWidth, targetWidth, true);
  const rows = linearAxis(sourceHeight, targetHeight, false);
  const f = Math.fround;
  // Horizontal pass on every source row.
  const horizontal = new Float32Array(sourceHeight * targetWidth);
  for (let row = 0; row < sourceHeight; row++) {
    const base = row * sourceWidth;
    for (let x = 0; x < targetWidth; x++) {
      const alpha = columns.weight[x];
      horizontal[row * targetWidth + x] = f(
        f(source[base + columns.first[x]] * f(1 - alpha)) + f(source[base + columns.second[x]] * alpha),
      );
    }
  }
  // Vertical pass between the two chosen rows.
  const target = new Float32Array(targetHeight * targetWidth);
  for (let y = 0; y < targetHeight; y++) {
    const beta = rows.weight[y];
    const top = rows.first[y] * targetWidth;
    const bottom = rows.second[y] * targetWidth;
    for (let x = 0; x < targetWidth; x++) {
      target[y * targetWidth + x] = f(f(horizontal[top + x] * f(1 - beta)) + f(horizontal[bottom + x] * beta));
    }
  }
  return target;
}

/** np.maximum(cam, 0) then (cam - min) / (max - min) in float32; all zeros when the map is flat. */
export function reluAndNormalize(cam: Float32Array): Float32Array {
  const rectified = cam.map((value) => (value > 0 ? value : 0));
  let minimum = Infinity;
  let maximum = -Infinity;
  for (const value of rectified) {
    if (value < minimum) minimum = value;
    if (value > maximum) maximum = value;
  }
  const heatmap = new Float32Array(rectified.length);
  if (!(maximum > minimum)) return heatmap;
  const range = Math.fround(maximum - minimum);
  for (let i = 0; i < rectified.length; i++) heatmap[i] = Math.fround(rectified[i] - minimum) / range;
  return heatmap;
}

/**
 * Grad-CAM heatmap for `classIndex` (0 = COVID-19, 1 = NORMAL in this project), resized to
 * outputSize x outputSize, ReLU'd and min-max normalised to [0, 1].
 */
export function gradCam(
  convMap: tf.Tensor4D,
  head: tf.LayersModel,
  classIndex: number,
  outputSize = imageSize,
): GradCamResult {
  if (!Number.isInteger(outputSize) || outputSize < 1) {
    throw new UserFacingError(`Grad-CAM output size must be a positive integer, got ${outputSize}`);
  }
  const map = gradCamMap(convMap, head, classIndex);
  const resized = resizeBilinear(map.cam, map.height, map.width, outputSize, outputSize);
  return { heatmap: reluAndNormalize(resized), probabilities: map.probabilities };
}

/** np.uint8(255 * heatmap) (float32 product, truncated) through OpenCV's JET: RGB, 3 bytes per pixel. */
export function heatmapToRgb(heatmap: Float32Array): Uint8Array {
  const levels = new Uint8Array(heatmap.length);
  for (let i = 0; i < heatmap.length; i++) {
    const level = Math.trunc(Math.fround(255 * heatmap[i]));
    // NaN or values outside [0, 1] would wrap in numpy; clamp instead so a bad map stays visible.
    levels[i] = Number.isNaN(level) ? 0 : Math.min(255, Math.max(0, level));
  }
  return applyColormap(levels);
}

/**
 * cv2.addWeighted(image, 0.5, jetHeatmap, 1, 0): per channel round-half-even(0.5 * image + colour),
 * saturated at 255. Both inputs are RGB here; the article's BGR order gives the same sums per channel.
 */
export function overlayHeatmap(imageRgb: Uint8Array, heatmap: Float32Array, size: number): Uint8Array {
  if (heatmap.length !== size * size) {
    throw new UserFacingError(
      `overlayHeatmap: heatmap has ${heatmap.length} values, expected ${size}x${size} = ${size * size}`,
    );
  }
  if (imageRgb.length !== size * size * 3) {
    throw new UserFacingError(
      `overlayHeatmap: image has ${imageRgb.length} bytes, expected ${size}x${size}x3 = ${size * size * 3} (RGB)`,
    );
  }
  const colours = heatmapToRgb(heatmap);
  const overlay = new Uint8Array(imageRgb.length);
  for (let i = 0; i < imageRgb.length; i++) {
    overlay[i] = roundToUint8(Math.fround(Math.fround(imageRgb[i] * 0.5) + colours[i]));
  }
  return overlay;
}
