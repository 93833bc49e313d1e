/** The Keras side's numbers: model.json's types, weights.bin by name, and batch-norm folding. */
import { ModelFileError } from '../core/errors';

export interface KerasLayer {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  inbound_nodes: [string, number, number, Record<string, unknown>][][];
}

export interface KerasModelJson {
  modelTopology: {
    model_config: {
      config: {
        layers: KerasLayer[];
        input_layers: [string, number, number][];
        output_layers: [string, number, number][];
      };
    };
  };
  weightsManifest: { paths: string[]; weights: { name: string; shape: number[]; dtype: string }[] }[];
}

/** Splits weights.bin into named float32 arrays following the manifest order. */
export function readWeights(modelJson: KerasModelJson, weightsData: Uint8Array): Map<string, Float32Array> {
  const specs = modelJson.weightsManifest.flatMap((group) => group.weights);
  const expectedBytes = specs.reduce((sum, spec) => sum + 4 * spec.shape.reduce((a, b) => a * b, 1), 0);
  if (weightsData.length !== expectedBytes) {
    throw new ModelFileError(`weights hold ${weightsData.length} bytes, model.json describes ${expectedBytes}`);
  }
  // Copy once into an aligned buffer: Float32Array views need a 4-byte aligned offset.
  const aligned = new Float32Array(weightsData.length / 4);
  new Uint8Array(aligned.buffer).set(weightsData);
  const weights = new Map<string, Float32Array>();
  let offset = 0;
  for (const spec of specs) {
    if (spec.dtype !== 'float32')
      throw new ModelFileError(`weight ${spec.name} is ${spec.dtype}; only float32 is supported`);
    const count = spec.shape.reduce((a, b) => a * b, 1);
    weights.set(spec.name, aligned.subarray(offset, offset + count));
    offset += count;
  }
  return weights;
}

export interface BatchNormParameters {
  gamma: Float32Array | undefined;
  beta: Float32Array | undefined;
  mean: Float32Array;
  variance: Float32Array;
  epsilon: number;
}

export function batchNormParameters(
  layer: KerasLayer,
  channels: number,
  weight: (layer: string, name: string, optional?: boolean) => Float32Array | undefined,
): BatchNormParameters {
  const axis = layer.config.axis;
  const axisValue = Array.isArray(axis) ? axis : [axis];
  if (axisValue.length !== 1 || (axisValue[0] !== 3 && axisValue[0] !== -1)) {
    throw new ModelFileError(
      `layer ${layer.name}: batch normalisation over axis ${JSON.stringify(axis)} is not supported (channels last ` +
        `only)`,
    );
  }
  const parameters: BatchNormParameters = {
    gamma: layer.config.scale === false ? undefined : weight(layer.name, 'gamma'),
    beta: layer.config.center === false ? undefined : weight(layer.name, 'beta'),
    mean: weight(layer.name, 'moving_mean')!,
    variance: weight(layer.name, 'moving_variance')!,
    epsilon: layer.config.epsilon as number,
  };
  for (const values of [parameters.gamma, parameters.beta, parameters.mean, parameters.variance]) {
    if (values && values.length !== channels)
      throw new ModelFileError(
        `layer ${layer.name}: parameters for ${values.length} channels, the convolution has ${channels}`,
      );
  }
  if (typeof parameters.epsilon !== 'number') throw new ModelFileError(`layer ${layer.name}: missing epsilon`);
  return parameters;
}

/**
 * Keras kernel [kh, kw, in, out] -> ONNX weight [out, in, kh, kw], with the inference-mode batch
 * norm y = (x - mean) / sqrt(variance + epsilon) * gamma + beta folded in:
 * weight' = weight * scale, bias' = (bias - mean) * scale + beta, scale = gamma / sqrt(variance + epsilon).
 * Computed in float64 and rounded once to float32, so folding adds at most half an ulp per value.
 */
export function foldBatchNorm(
  kernel: Float32Array,
  bias: Float32Array | undefined,
  [kernelY, kernelX, inputs, outputs]: [number, number, number, number],
  batchNorm: BatchNormParameters | undefined,
): { kernel: Float32Array; bias: Float32Array } {
  const scale = new Float64Array(outputs).fill(1);
  const shift = new Float64Array(outputs);
  for (let o = 0; o < outputs; o++) {
    const b = bias ? bias[o] : 0;
    if (batchNorm) {
      scale[o] = (batchNorm.gamma ? batchNorm.gamma[o] : 1) / Math.sqrt(batchNorm.variance[o] + batchNorm.epsilon);
      shift[o] = (b - batchNorm.mean[o]) * scale[o] + (batchNorm.beta ? batchNorm.beta[o] : 0);
    } else {
      shift[o] = b;
    }
  }
  const folded = new Float32Array(kernel.length);
  const spatial = kernelY * kernelX;
  for (let y = 0; y < kernelY; y++) {
    for (let x = 0; x < kernelX; x++) {
      for (let i = 0; i < inputs; i++) {
        const sourceBase = ((y * kernelX + x) * inputs + i) * outputs;
        const targetBase = i * spatial + y * kernelX + x;
        for (let o = 0; o < outputs; o++) {
          folded[o * inputs * spatial + targetBase] = kernel[sourceBase + o] * scale[o];
        }
      }
    }
  }
  return { kernel: folded, bias: Float32Array.from(shift) };
}
