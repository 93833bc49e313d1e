/**
 * The unfrozen top of ResNet50 as plain tfjs variables: conv5_block3 (default) or the whole conv5
 * stage, each convolution with its BatchNormalization folded in (inference mode, as Keras runs a
 * frozen BN: w' = w * gamma / sqrt(var + eps), b' = (b - mean) * gamma / sqrt(var + eps) + beta;
 * the same fold as the ONNX export, here in Keras' [kh, kw, in, out] layout).
 * Forward pass: convolutions through conv2dByMatMul, so gradients exist on every backend.
 */
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { ModelFileError, UserFacingError } from '../core/errors';
import { conv2dByMatMul, ConvPadding } from './convMatMul';

const blockNames = ['conv5_block3', 'conv5'] as const;
export type FinetuneBlock = (typeof blockNames)[number];

/** What each choice trains, and the frozen tensor that feeds it (cached once per image). */
export const blockLayout: Record<
  FinetuneBlock,
  { units: string[]; input: string; inputShape: [number, number, number] }
> = {
  conv5_block3: { units: ['conv5_block3'], input: 'conv5_block2_out', inputShape: [7, 7, 2048] },
  conv5: {
    units: ['conv5_block1', 'conv5_block2', 'conv5_block3'],
    input: 'conv4_block6_out',
    inputShape: [14, 14, 1024],
  },
};

export function checkBlockName(name: unknown): FinetuneBlock {
  if (!blockNames.includes(name as FinetuneBlock)) {
    throw new UserFacingError(
      `finetune.block "${String(name)}" is not a block this project can unfreeze; choose ${blockNames.join(' or ')}`,
    );
  }
  return name as FinetuneBlock;
}

/** One folded convolution: kernel [kh, kw, in, out] and bias [out], plus how it slides. */
export interface FoldedConv {
  name: string;
  kernel: tf.Variable<tf.Rank.R4>;
  bias: tf.Variable<tf.Rank.R1>;
  stride: number;
  padding: ConvPadding;
}

export interface TrainableBlock {
  name: FinetuneBlock;
  convs: FoldedConv[];
  /** Every trainable variable, in a fixed order (the saved file's order). */
  variables: tf.Variable[];
}

interface LayerJson {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
}
interface ModelJson {
  modelTopology: { model_config: { config: { layers: LayerJson[] } } };
  weightsManifest: { weights: { name: string; shape: number[]; dtype: string }[] }[];
}

/** The converted ImageNet weights as named float32 arrays (model.json manifest order). */
function readNamedWeights(
  modelJsonPath: string,
  weightsBinPath: string,
): {
  layers: Map<string, LayerJson>;
  weights: Map<string, { shape: number[]; values: Float32Array }>;
} {
  let modelJson: ModelJson;
  let data: Buffer;
  try {
    modelJson = JSON.parse(fs.readFileSync(modelJsonPath, 'utf8')) as ModelJson;
    data = fs.readFileSync(weightsBinPath);
  } catch (error) {
    throw new ModelFileError(
      `cannot be read (${(error as Error).message.split('\n')[0]}); run \`npm run setup\``,
      modelJsonPath,
    );
  }
  const all = new Float32Array(data.length / 4);
  new Uint8Array(all.buffer).set(data.subarray(0, all.length * 4));
  const weights = new Map<string, { shape: number[]; values: Float32Array }>();
  let offset = 0;
  for (const spec of modelJson.weightsManifest.flatMap((group) => group.weights)) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    if (offset + count > all.length)
      throw new ModelFileError('holds fewer weights than model.json lists', weightsBinPath);
    weights.set(spec.name, { shape: spec.shape, values: all.subarray(offset, offset + count) });
    offset += count;
  }
  const layers = new Map(modelJson.modelTopology.model_config.config.layers.map((layer) => [layer.name, layer]));
  return { layers, weights };
}

/** Keras-layout BN fold, in float64, rounded once to float32. */
function foldBatchNormKeras(
  kernel: Float32Array,
  bias: Float32Array | undefined,
  outputs: number,
  bn: { gamma: Float32Array; beta: Float32Array; mean: Float32Array; variance: Float32Array; epsilon: number },
): { kernel: Float32Array; bias: Float32Array } {
  const scale = new Float64Array(outputs);
  const folded = new Float32Array(outputs);
  for (let o = 0; o < outputs; o++) {
    scale[o] = bn.gamma[o] / Math.sqrt(bn.variance[o] + bn.epsilon);
    folded[o] = ((bias ? bias[o] : 0) - bn.mean[o]) * scale[o] + bn.beta[o];
  }
  const foldedKernel = new Float32Array(kernel.length);
  for (let i = 0; i < kernel.length; i++) foldedKernel[i] = kernel[i] * scale[i % outputs];
  return { kernel: foldedKernel, bias: folded };
}

/** Conv names of one bottleneck unit, in forward order; "_0" is the projection shortcut. */
function unitConvs(unit: string): string[] {
  const convs = [`${unit}_1`, `${unit}_2`, `${unit}_3`];
  return unit.endsWith('block1') ? [...convs, `${unit}_0`] : convs;
}

/** Builds the block from the ImageNet weights (model.json + weights.bin of the converted backbone). */
export function blockFromImagenet(name: FinetuneBlock, modelJsonPath: string, weightsBinPath: string): TrainableBlock {
  checkBlockName(name);
  const { layers, weights } = readNamedWeights(modelJsonPath, weightsBinPath);
  const need = (key: string) => {
    const found = weights.get(key);
    if (!found) throw new ModelFileError(`has no weight ${key}`, weightsBinPath);
    return found;
  };
  const convs: FoldedConv[] = [];
  for (const unit of blockLayout[name].units) {
    for (const conv of unitConvs(unit)) {
      const layer = layers.get(`${conv}_conv`);
      const bnLayer = layers.get(`${conv}_bn`);
      if (!layer || !bnLayer) throw new ModelFileError(`has no layer ${conv}_conv / ${conv}_bn`, modelJsonPath);
      const kernel = need(`${conv}_conv/kernel`);
      const outputs = kernel.shape[3];
      const folded = foldBatchNormKeras(kernel.values, weights.get(`${conv}_conv/bias`)?.values, outputs, {
        gamma: need(`${conv}_bn/gamma`).values,
        beta: need(`${conv}_bn/beta`).values,
        mean: need(`${conv}_bn/moving_mean`).values,
        variance: need(`${conv}_bn/moving_variance`).values,
        epsilon: bnLayer.config.epsilon as number,
      });
      const strides = layer.config.strides as number[];
      convs.push(
        makeConv(conv, folded.kernel, kernel.shape, folded.bias, strides[0], layer.config.padding as ConvPadding),
      );
    }
  }
  return assemble(name, convs);
}

export function makeConv(
  name: string,
  kernel: Float32Array,
  shape: number[],
  bias: Float32Array,
  stride: number,
  padding: ConvPadding,
): FoldedConv {
  // tf.variable shares the initial tensor's data: the initial tensors are disposed once wrapped.
  const initialKernel = tf.tensor4d(kernel, shape as [number, number, number, number]);
  const initialBias = tf.tensor1d(bias);
  const conv: FoldedConv = {
    name,
    kernel: tf.variable(initialKernel, true) as tf.Variable<tf.Rank.R4>,
    bias: tf.variable(initialBias, true) as tf.Variable<tf.Rank.R1>,
    stride,
    padding,
  };
  initialKernel.dispose();
  initialBias.dispose();
  return conv;
}

export function assemble(name: FinetuneBlock, convs: FoldedConv[]): TrainableBlock {
  return { name, convs, variables: convs.flatMap((conv) => [conv.kernel, conv.bias]) };
}

function applyConv(x: tf.Tensor4D, conv: FoldedConv, inputGradient = true): tf.Tensor4D {
  return tf.add(conv2dByMatMul(x, conv.kernel, conv.stride, conv.padding, { inputGradient: inputGradient }), conv.bias);
}

/**
 * The block's output (conv5_block3_out) from its cached input: each bottleneck unit is
 * relu(x + conv3(relu(conv2(relu(conv1(x)))))) with a projection conv "_0" on x in block1.
 * The input is a constant (the cached frozen activations): no gradient is computed for it, which
 * saves the first convolution's input-gradient product in every training step. Call inside tf.tidy.
 */
export function blockForward(block: TrainableBlock, input: tf.Tensor4D): tf.Tensor4D {
  let x = input;
  const byName = new Map(block.convs.map((conv) => [conv.name, conv]));
  for (const unit of blockLayout[block.name].units) {
    const fromInput = x === input; // the first unit reads the cached input: no gradient needed there
    const first = tf.relu(applyConv(x, byName.get(`${unit}_1`)!, !fromInput));
    const second = tf.relu(applyConv(first, byName.get(`${unit}_2`)!));
    const third = applyConv(second, byName.get(`${unit}_3`)!);
    const projection = byName.get(`${unit}_0`);
    const shortcut = projection ? applyConv(x, projection, !fromInput) : x;
    x = tf.relu(tf.add(shortcut, third)) as tf.Tensor4D;
  }
  return x;
}

export function disposeBlock(block: TrainableBlock): void {
  for (const variable of block.variables) variable.dispose();
}
