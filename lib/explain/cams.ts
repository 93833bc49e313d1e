/**
 * Class activation maps behind one interface, in the style of jacobgil/pytorch-grad-cam: the base
 * (camsFromConvMap) owns the plumbing, each method only says how the conv map's channels are
 * weighted. Plumbing: the conv map [1, 7, 7, 2048] from the feature engine, the gradient of the
 * class score through pooling and the head (classScoreGradients), then cv2-exact bilinear resize,
 * ReLU and min-max normalisation (the article's order, for every method).
 *
 * A caveat that is a property of this model, not of the code: the head sees the conv map only
 * through global average pooling, so d(score)/d(A_ijk) = g_k / 49 is the same at every position.
 * HiResCAM (sum_k g_ijk A_ijk) is then Grad-CAM without the article's "1 +", scaled by 1/49.
 */
import * as tf from '@tensorflow/tfjs';
import { UserFacingError } from '../core/errors';
import { checkConvMap, classScoreGradients, headOutput, reluAndNormalize, resizeBilinear } from './gradcam';

/** Every method, in the order tables and grids show them. */
export const camMethodNames = ['gradcam', 'gradcam++', 'hirescam', 'eigencam', 'occlusion'] as const;
export type CamMethodName = (typeof camMethodNames)[number];
/** The methods computed from the conv map alone (the occlusion map needs the image and the backbone). */
export type ConvCamMethodName = Exclude<CamMethodName, 'occlusion'>;
export const convCamMethodNames = camMethodNames.filter((name): name is ConvCamMethodName => name !== 'occlusion');

export const camMethodLabels: Record<CamMethodName, string> = {
  gradcam: 'Grad-CAM',
  'gradcam++': 'Grad-CAM++',
  hirescam: 'HiResCAM',
  eigencam: 'Eigen-CAM',
  occlusion: 'Occlusion',
};

/** The method name, or a clear error that lists the methods. */
export function parseCamMethod(name: string): CamMethodName {
  const found = camMethodNames.find((method) => method === name.toLowerCase());
  if (!found) throw new UserFacingError(`unknown CAM method "${name}"; choose one of ${camMethodNames.join(', ')}`);
  return found;
}

/**
 * One weighting rule: the raw map [height, width] from the conv map [1, h, w, c] and the class
 * score's gradients (same shape; undefined for gradient-free methods). Runs inside tf.tidy.
 */
export interface ConvCamRule {
  usesGradients: boolean;
  rawCam(convMap: tf.Tensor4D, gradients: tf.Tensor4D | undefined): tf.Tensor;
}

/** pytorch-grad-cam's epsilon in the Grad-CAM++ denominator. */
const plusPlusEpsilon = 1e-7;

const convCamRules: Record<ConvCamMethodName, ConvCamRule> = {
  // The article: w_k = spatial mean of the gradients, cam = 1 + sum_k w_k A_k. The same tf ops as
  // gradCamMap, so the result is identical to gradCam's.
  gradcam: {
    usesGradients: true,
    rawCam: (convMap, gradients) =>
      tf.add(tf.scalar(1), tf.sum(tf.mul(convMap.squeeze([0]), tf.mean(gradients!, [0, 1, 2])), -1)),
  },
  // Chattopadhyay et al. 2018 as pytorch-grad-cam computes it: alpha = g^2 / (2 g^2 + sum_ij A * g^3),
  // w_k = sum_ij alpha * relu(g), cam = sum_k w_k A_k.
  'gradcam++': {
    usesGradients: true,
    rawCam: (convMap, gradients) => {
      const activations = convMap.squeeze([0]) as tf.Tensor3D;
      const g = gradients!.squeeze([0]) as tf.Tensor3D;
      const g2 = tf.square(g);
      const g3 = tf.mul(g2, g);
      const activationSums = tf.sum(activations, [0, 1]);
      const alpha = tf.div(g2, tf.add(tf.add(tf.mul(g2, 2), tf.mul(activationSums, g3)), plusPlusEpsilon));
      const alphaWhereGradient = tf.where(tf.notEqual(g, 0), alpha, tf.zerosLike(alpha));
      const weights = tf.sum(tf.mul(tf.relu(g), alphaWhereGradient), [0, 1]);
      return tf.sum(tf.mul(activations, weights), -1);
    },
  },
  // Draelos & Carin 2020: element-wise gradient times activation, summed over channels.
  hirescam: {
    usesGradients: true,
    rawCam: (convMap, gradients) => tf.sum(tf.mul(convMap, gradients!), -1).squeeze([0]),
  },
  // Muhammad & Yeasin 2020: the activations' first principal component; no class, no gradient.
  eigencam: { usesGradients: false, rawCam: (convMap) => eigenProjection(convMap) },
};

/**
 * Projection of each position's activation vector (mean-centred over positions, as
 * pytorch-grad-cam's get_2d_projection) on the first right singular vector. Computed from the small
 * positions x positions Gram matrix by power iteration. The sign of a principal component is
 * arbitrary: it is chosen so that the map correlates positively with the total activation per position.
 */
function eigenProjection(convMap: tf.Tensor4D): tf.Tensor {
  const [, height, width, channels] = convMap.shape;
  const positions = height * width;
  const rows = convMap.reshape([positions, channels]);
  const centred = tf.sub(rows, tf.mean(rows, 0));
  const gram = tf.matMul(centred, centred, false, true).dataSync() as Float32Array;
  const totals = tf.sum(rows, 1).dataSync() as Float32Array;
  const vector = new Float64Array(positions).fill(1 / Math.sqrt(positions));
  for (let iteration = 0; iteration < 200; iteration++) {
    const next = new Float64Array(positions);
    for (let i = 0; i < positions; i++) {
      let sum = 0;
      for (let j = 0; j < positions; j++) sum += gram[i * positions + j] * vector[j];
      next[i] = sum;
    }
    const norm = Math.hypot(...next);
    if (!(norm > 0)) break;
    let change = 0;
    for (let i = 0; i < positions; i++) {
      change = Math.max(change, Math.abs(next[i] / norm - vector[i]));
      vector[i] = next[i] / norm;
    }
    if (change < 1e-10) break;
  }
  // The projection X_c v equals sigma * u: u (this eigenvector) up to a positive scale, which min-max removes.
  const meanTotal = totals.reduce((sum, value) => sum + value, 0) / positions;
  let covariance = 0;
  for (let i = 0; i < positions; i++) covariance += vector[i] * (totals[i] - meanTotal);
  const sign = covariance < 0 ? -1 : 1;
  return tf.tensor2d(
    Array.from(vector, (value) => sign * value),
    [height, width],
  );
}

export interface ConvCams {
  /** Per method: outputSize*outputSize values in [0, 1], row-major. */
  heatmaps: Partial<Record<ConvCamMethodName, Float32Array>>;
  /** Per method: the raw map before resizing (height*width values). */
  raw: Partial<Record<ConvCamMethodName, Float32Array>>;
  height: number;
  width: number;
  probabilities: number[];
}

/**
 * The base: several conv-map methods for one image and one class, sharing one gradient
 * computation. Each map is resized (OpenCV-exact), ReLU'd and min-max normalised.
 */
export function camsFromConvMap(
  convMap: tf.Tensor4D,
  head: tf.LayersModel,
  classIndex: number,
  methods: readonly ConvCamMethodName[] = convCamMethodNames,
  outputSize = 224,
): ConvCams {
  checkConvMap(convMap);
  if (!Number.isInteger(outputSize) || outputSize < 1)
    throw new UserFacingError(`CAM output size must be a positive integer, got ${outputSize}`);
  const [, height, width, channels] = convMap.shape;
  const headInput = head.inputs[0]?.shape;
  const headChannels = headInput ? headInput[headInput.length - 1] : null;
  if (headChannels !== null && headChannels !== undefined && headChannels !== channels)
    throw new UserFacingError(
      `the head expects ${headChannels} pooled features but the conv map has ${channels} channels`,
    );
  const needsGradients = methods.some((method) => convCamRules[method].usesGradients);
  const tensors = tf.tidy(() => {
    const probabilities = headOutput(head, tf.mean(convMap, [1, 2]));
    const gradients = needsGradients ? classScoreGradients(convMap, head, classIndex) : undefined;
    const maps = methods.map((method) => convCamRules[method].rawCam(convMap, gradients));
    return { probabilities, maps };
  });
  try {
    const result: ConvCams = {
      heatmaps: {},
      raw: {},
      height,
      width,
      probabilities: Array.from(tensors.probabilities.dataSync()),
    };
    methods.forEach((method, index) => {
      const raw = Float32Array.from(tensors.maps[index].dataSync());
      result.raw[method] = raw;
      result.heatmaps[method] = finishCam(raw, height, width, outputSize);
    });
    return result;
  } finally {
    tf.dispose([tensors.probabilities, ...tensors.maps]);
  }
}

/** The shared last steps: cv2.resize (bilinear) to outputSize, ReLU, min-max to [0, 1]. */
export function finishCam(raw: Float32Array, height: number, width: number, outputSize = 224): Float32Array {
  const resized =
    height === outputSize && width === outputSize ? raw : resizeBilinear(raw, height, width, outputSize, outputSize);
  return reluAndNormalize(resized);
}

/** One method's heatmap (outputSize^2 values in [0, 1]) and the head's probabilities. */
export function convCam(
  method: ConvCamMethodName,
  convMap: tf.Tensor4D,
  head: tf.LayersModel,
  classIndex: number,
  outputSize = 224,
): { heatmap: Float32Array; probabilities: number[] } {
  const cams = camsFromConvMap(convMap, head, classIndex, [method], outputSize);
  return { heatmap: cams.heatmaps[method]!, probabilities: cams.probabilities };
}
