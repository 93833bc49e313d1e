/**
 * Translates the converted Keras ResNet50 (tfjs layers-model JSON + one float32 weights.bin) into
 * an ONNX ModelProto, so ONNX Runtime can run the very same ImageNet weights.
 *
 * Only the layer types ResNet50 uses are supported (InputLayer, ZeroPadding2D, Conv2D,
 * BatchNormalization, Activation relu/linear, MaxPooling2D, Add); anything else is refused with
 * the layer's name rather than silently mistranslated.
 *
 * Encoding: the `onnx-proto` package (generated protobufjs code for onnx.proto v1.10) rather
 * than a hand-written protobuf writer: the message layout then comes from the official schema,
 * and its protobufjs Writer copies the 94 MB of raw weight bytes once, which is fast enough.
 */
import { onnx } from 'onnx-proto';
import * as os from 'os';
import { ModelFileError } from '../core/errors';

/** The ONNX graph's input name: NHWC float32 [N,224,224,3], caffe-preprocessed. */
export const onnxInputName = 'input';
/** Global-average-pooled conv5_block3_out, [N,2048]. */
export const onnxPooledName = 'pooled';
/** conv5_block3_out in NHWC, [N,7,7,2048], as the tfjs model outputs it. */
export const onnxConvMapsName = 'conv5_block3_out';

/** Opset 13 is old enough for any ONNX Runtime of the last years and has every op used here. */
const opsetVersion = 13;
/** IR version 7 goes with opset 13. */
const irVersion = 7;

interface KerasLayer {
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

/** A tensor of the NCHW graph: its ONNX name, spatial size and channels (batch stays dynamic). */
interface GraphTensor {
  onnxName: string;
  height: number;
  width: number;
  channels: number;
  /** Produced by a ReLU: then zero padding and -inf padding give the same max-pool result. */
  nonNegative: boolean;
  /** A ZeroPadding2D not yet applied: [top, left, bottom, right] around `onnxName`. */
  pendingPads?: [number, number, number, number];
}

type AttributeValue = number | number[] | string;

function attribute(name: string, value: AttributeValue): onnx.IAttributeProto {
  const type = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: type.STRING, s: Buffer.from(value, 'utf8') };
  if (Array.isArray(value)) return { name, type: type.INTS, ints: value };
  return { name, type: type.INT, i: value };
}

function valueInfo(name: string, dims: (number | string)[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((dim) => (typeof dim === 'string' ? { dimParam: dim } : { dimValue: dim })) },
      },
    },
  };
}

function pair(value: unknown, what: string, layer: string): [number, number] {
  if (typeof value === 'number') return [value, value];
  if (Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === 'number'))
    return [value[0], value[1]];
  throw new ModelFileError(`layer ${layer}: unexpected ${what} ${JSON.stringify(value)}`);
}

/** Keras ZeroPadding2D accepts n, [h, w] or [[top, bottom], [left, right]]. */
function zeroPaddingAmounts(padding: unknown, layer: string): [number, number, number, number] {
  if (typeof padding === 'number') return [padding, padding, padding, padding];
  if (Array.isArray(padding) && padding.length === 2) {
    const [rows, columns] = padding.map((p) => pair(p, 'padding', layer));
    return [rows[0], columns[0], rows[1], columns[1]];
  }
  throw new ModelFileError(`layer ${layer}: unexpected padding ${JSON.stringify(padding)}`);
}

/**
 * Padding of a Keras "same" window op, as TensorFlow computes it: output = ceil(n / stride),
 * and when the total padding is odd the extra row/column goes at the end (bottom/right).
 */
function samePadding(size: number, kernel: number, stride: number): [number, number] {
  const output = Math.ceil(size / stride);
  const total = Math.max((output - 1) * stride + kernel - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** Builds the ONNX model bytes from a parsed model.json and the contents of its weights.bin. */
export function kerasResnetToOnnx(
  modelJson: KerasModelJson,
  weightsData: Uint8Array,
  producer = 'lib/kerasToOnnx.ts',
  extraOutputs: string[] = [],
): Uint8Array {
  if (os.endianness() !== 'LE')
    throw new Error('the ONNX export writes raw float32 bytes and needs a little-endian machine');
  const weights = readWeights(modelJson, weightsData);
  const config = modelJson.modelTopology.model_config.config;
  const layers = config.layers;

  // Who consumes each layer's output: a Conv2D is folded with its BatchNormalization only when
  // that BN is its sole consumer (true for every conv of ResNet50).
  const consumers = new Map<string, KerasLayer[]>();
  for (const layer of layers) {
    for (const [from] of layer.inbound_nodes[0] ?? []) consumers.set(from, [...(consumers.get(from) ?? []), layer]);
  }

  const nodes: onnx.INodeProto[] = [];
  const initializers: onnx.ITensorProto[] = [];
  const tensors = new Map<string, GraphTensor>();
  const foldedInto = new Map<string, string>(); // BN layer name -> conv layer folded into it
  let padCount = 0;

  const addInitializer = (name: string, dims: number[], values: Float32Array) => {
    initializers.push({
      name,
      dims,
      dataType: onnx.TensorProto.DataType.FLOAT,
      rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
    });
    return name;
  };
  const weight = (layer: string, name: string, optional = false): Float32Array | undefined => {
    const values = weights.get(`${layer}/${name}`);
    if (!values && !optional) throw new ModelFileError(`weights.bin has no ${layer}/${name}`);
    return values;
  };
  const inputOf = (layer: KerasLayer, index = 0): GraphTensor => {
    const inbound = layer.inbound_nodes[0]?.[index];
    const tensor = inbound && tensors.get(inbound[0]);
    if (!tensor)
      throw new ModelFileError(`layer ${layer.name}: input ${inbound?.[0] ?? index} is not defined before it`);
    return tensor;
  };
  /** Applies a pending ZeroPadding2D as an explicit Pad node (for consumers that cannot absorb it). */
  const materialise = (tensor: GraphTensor): GraphTensor => {
    if (!tensor.pendingPads) return tensor;
    const [top, left, bottom, right] = tensor.pendingPads;
    const padsName = `pads_${padCount}`;
    // ONNX Pad order: all begins (N, C, H, W), then all ends.
    initializers.push({
      name: padsName,
      dims: [8],
      dataType: onnx.TensorProto.DataType.INT64,
      int64Data: [0, 0, top, left, 0, 0, bottom, right],
    });
    const output = `${tensor.onnxName}_padded${padCount++}`;
    nodes.push({ opType: 'Pad', input: [tensor.onnxName, padsName], output: [output], name: output });
    return {
      ...tensor,
      onnxName: output,
      height: tensor.height + top + bottom,
      width: tensor.width + left + right,
      pendingPads: undefined,
    };
  };

  for (const layer of layers) {
    const name = layer.name;
    const layerConfig = layer.config;
    const outputName = `nchw/${name}`;
    switch (layer.class_name) {
      case 'InputLayer': {
        const shape = layerConfig.batch_input_shape as (number | null)[];
        if (!Array.isArray(shape) || shape.length !== 4 || shape.slice(1).some((d) => typeof d !== 'number')) {
          throw new ModelFileError(
            `input layer ${name}: expected batch_input_shape [null, H, W, C], got ${JSON.stringify(shape)}`,
          );
        }
        const [, height, width, channels] = shape as number[];
        // The graph takes NHWC like the tfjs model, and works in NCHW, the layout ONNX convolutions use.
        nodes.push({
          opType: 'Transpose',
          input: [onnxInputName],
          output: [outputName],
          name: `${name}_to_nchw`,
          attribute: [attribute('perm', [0, 3, 1, 2])],
        });
        tensors.set(name, { onnxName: outputName, height, width, channels, nonNegative: false });
        break;
      }
      case 'ZeroPadding2D': {
        const source = materialise(inputOf(layer));
        tensors.set(name, { ...source, pendingPads: zeroPaddingAmounts(layerConfig.padding, name) });
        break;
      }
      case 'Conv2D': {
        if (layerConfig.data_format !== 'channels_last')
          throw new ModelFileError(`layer ${name}: only channels_last is supported`);
        if (layerConfig.activation !== 'linear')
          throw new ModelFileError(
            `layer ${name}: activation ${String(layerConfig.activation)} inside Conv2D is not supported`,
          );
        const [dilationY, dilationX] = pair(layerConfig.dilation_rate ?? 1, 'dilation_rate', name);
        if (dilationY !== 1 || dilationX !== 1)
          throw new ModelFileError(`layer ${name}: dilated convolutions are not supported`);
        const source = inputOf(layer);
        const [kernelY, kernelX] = pair(layerConfig.kernel_size, 'kernel_size', name);
        const [strideY, strideX] = pair(layerConfig.strides, 'strides', name);
        const filters = layerConfig.filters as number;
        const kernel = weight(name, 'kernel')!;
        if (kernel.length !== kernelY * kernelX * source.channels * filters) {
          throw new ModelFileError(
            `layer ${name}: kernel holds ${kernel.length} values, expected ${kernelY}x${kernelX}x${source.channels}x${filters}`,
          );
        }
        const bias = layerConfig.use_bias ? weight(name, 'bias')! : undefined;

        // Fold the following BatchNormalization (inference mode) into this convolution.
        const next = consumers.get(name) ?? [];
        const batchNorm = next.length === 1 && next[0].class_name === 'BatchNormalization' ? next[0] : undefined;
        const folded = foldBatchNorm(
          kernel,
          bias,
          [kernelY, kernelX, source.channels, filters],
          batchNorm && batchNormParameters(batchNorm, filters, weight),
        );
        const tensorName = batchNorm ? batchNorm.name : name;
        if (batchNorm) foldedInto.set(batchNorm.name, name);

        const [padTop, padLeft, padBottom, padRight] = source.pendingPads ?? [0, 0, 0, 0];
        let height = source.height + padTop + padBottom;
        let width = source.width + padLeft + padRight;
        let pads = [padTop, padLeft, padBottom, padRight];
        if (layerConfig.padding === 'same') {
          const [top, bottom] = samePadding(height, kernelY, strideY);
          const [left, right] = samePadding(width, kernelX, strideX);
          pads = [pads[0] + top, pads[1] + left, pads[2] + bottom, pads[3] + right];
          height += top + bottom;
          width += left + right;
        } else if (layerConfig.padding !== 'valid') {
          throw new ModelFileError(`layer ${name}: padding ${String(layerConfig.padding)} is not supported`);
        }
        const onnxOutput = `nchw/${tensorName}`;
        nodes.push({
          opType: 'Conv',
          name: tensorName,
          input: [
            source.onnxName,
            addInitializer(`${tensorName}/weight`, [filters, source.channels, kernelY, kernelX], folded.kernel),
            addInitializer(`${tensorName}/bias`, [filters], folded.bias),
          ],
          output: [onnxOutput],
          attribute: [
            attribute('kernel_shape', [kernelY, kernelX]),
            attribute('strides', [strideY, strideX]),
            attribute('pads', [pads[0], pads[1], pads[2], pads[3]]),
            attribute('dilations', [1, 1]),
            attribute('group', 1),
          ],
        });
        tensors.set(tensorName, {
          onnxName: onnxOutput,
          height: Math.floor((height - kernelY) / strideY) + 1,
          width: Math.floor((width - kernelX) / strideX) + 1,
          channels: filters,
          nonNegative: false,
        });
        break;
      }
      case 'BatchNormalization': {
        if (!foldedInto.has(name)) {
          throw new ModelFileError(
            `layer ${name}: a BatchNormalization that does not directly follow a Conv2D is not supported`,
          );
        }
        break; // already folded into the convolution, which produced this layer's tensor
      }
      case 'Activation': {
        const source = materialise(inputOf(layer));
        if (layerConfig.activation === 'linear') {
          tensors.set(name, source);
        } else if (layerConfig.activation === 'relu') {
          nodes.push({ opType: 'Relu', name, input: [source.onnxName], output: [outputName] });
          tensors.set(name, { ...source, onnxName: outputName, nonNegative: true });
        } else {
          throw new ModelFileError(`layer ${name}: activation ${String(layerConfig.activation)} is not supported`);
        }
        break;
      }
      case 'MaxPooling2D': {
        if (layerConfig.data_format !== undefined && layerConfig.data_format !== 'channels_last') {
          throw new ModelFileError(`layer ${name}: only channels_last is supported`);
        }
        // ONNX MaxPool pads never win the max (they act as -inf), whereas Keras' ZeroPadding2D
        // inserts zeros. The two agree when the input is non-negative (it follows a ReLU here:
        // every window holds at least one real value >= 0). Otherwise pad explicitly with zeros.
        let source = inputOf(layer);
        if (source.pendingPads && !source.nonNegative) source = materialise(source);
        const [poolY, poolX] = pair(layerConfig.pool_size, 'pool_size', name);
        const [strideY, strideX] = pair(layerConfig.strides ?? layerConfig.pool_size, 'strides', name);
        const [padTop, padLeft, padBottom, padRight] = source.pendingPads ?? [0, 0, 0, 0];
        let height = source.height + padTop + padBottom;
        let width = source.width + padLeft + padRight;
        let pads = [padTop, padLeft, padBottom, padRight];
        if (layerConfig.padding === 'same') {
          // TensorFlow's "same" max pool ignores the padded cells too, like ONNX pads.
          const [top, bottom] = samePadding(height, poolY, strideY);
          const [left, right] = samePadding(width, poolX, strideX);
          pads = [pads[0] + top, pads[1] + left, pads[2] + bottom, pads[3] + right];
          height += top + bottom;
          width += left + right;
        } else if (layerConfig.padding !== 'valid') {
          throw new ModelFileError(`layer ${name}: padding ${String(layerConfig.padding)} is not supported`);
        }
        nodes.push({
          opType: 'MaxPool',
          name,
          input: [source.onnxName],
          output: [outputName],
          attribute: [
            attribute('kernel_shape', [poolY, poolX]),
            attribute('strides', [strideY, strideX]),
            attribute('pads', pads),
          ],
        });
        tensors.set(name, {
          onnxName: outputName,
          height: Math.floor((height - poolY) / strideY) + 1,
          width: Math.floor((width - poolX) / strideX) + 1,
          channels: source.channels,
          nonNegative: source.nonNegative,
        });
        break;
      }
      case 'Add': {
        const inputs = (layer.inbound_nodes[0] ?? []).map((_, index) => materialise(inputOf(layer, index)));
        if (inputs.length !== 2)
          throw new ModelFileError(`layer ${name}: Add of ${inputs.length} inputs is not supported`);
        const [a, b] = inputs;
        if (a.height !== b.height || a.width !== b.width || a.channels !== b.channels) {
          throw new ModelFileError(
            `layer ${name}: adds ${a.height}x${a.width}x${a.channels} to ${b.height}x${b.width}x${b.channels}`,
          );
        }
        nodes.push({ opType: 'Add', name, input: [a.onnxName, b.onnxName], output: [outputName] });
        tensors.set(name, { ...a, onnxName: outputName, nonNegative: a.nonNegative && b.nonNegative });
        break;
      }
      default:
        throw new ModelFileError(`layer ${name}: type ${layer.class_name} is not supported by the ONNX export`);
    }
  }

  const outputLayer = config.output_layers[0]?.[0];
  const output = outputLayer ? tensors.get(outputLayer) : undefined;
  if (!output || output.pendingPads)
    throw new ModelFileError(`output layer ${String(outputLayer)} is missing from the model`);
  nodes.push({
    opType: 'Transpose',
    name: 'to_nhwc',
    input: [output.onnxName],
    output: [onnxConvMapsName],
    attribute: [attribute('perm', [0, 2, 3, 1])],
  });
  nodes.push({
    opType: 'GlobalAveragePool',
    name: 'global_average_pool',
    input: [output.onnxName],
    output: ['pooled_nchw'],
  });
  nodes.push({
    opType: 'Flatten',
    name: 'flatten',
    input: ['pooled_nchw'],
    output: [onnxPooledName],
    attribute: [attribute('axis', 1)],
  });

  // --- extra outputs (fine-tuning, lib/finetune): inner layers in NHWC, named as the layer ---
  const extraOutputInfos = extraOutputs.map((layerName) => {
    const inner = tensors.get(layerName);
    if (!inner || inner.pendingPads) throw new ModelFileError(`layer ${layerName} is not in the model`);
    nodes.push({
      opType: 'Transpose',
      name: `${layerName}_to_nhwc`,
      input: [inner.onnxName],
      output: [layerName],
      attribute: [attribute('perm', [0, 2, 3, 1])],
    });
    return valueInfo(layerName, ['N', inner.height, inner.width, inner.channels]);
  });
  // --- end of extra outputs ---

  const inputLayer = layers.find((layer) => layer.class_name === 'InputLayer');
  const input = tensors.get(inputLayer?.name ?? '')!;
  const model: onnx.IModelProto = {
    irVersion,
    opsetImport: [{ domain: '', version: opsetVersion }],
    producerName: producer,
    docString:
      'ResNet50 without top (Keras ImageNet weights), batch norm folded into the convolutions. Input: caffe-preprocessed NHWC.',
    graph: {
      name: 'resnet50_notop',
      node: nodes,
      initializer: initializers,
      input: [valueInfo(onnxInputName, ['N', input.height, input.width, input.channels])],
      output: [
        valueInfo(onnxPooledName, ['N', output.channels]),
        valueInfo(onnxConvMapsName, ['N', output.height, output.width, output.channels]),
        ...extraOutputInfos,
      ],
    },
  };
  return onnx.ModelProto.encode(model).finish();
}

/** Splits weights.bin into named float32 arrays following the manifest order. */
function readWeights(modelJson: KerasModelJson, weightsData: Uint8Array): Map<string, Float32Array> {
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

interface BatchNormParameters {
  gamma: Float32Array | undefined;
  beta: Float32Array | undefined;
  mean: Float32Array;
  variance: Float32Array;
  epsilon: number;
}

function batchNormParameters(
  layer: KerasLayer,
  channels: number,
  weight: (layer: string, name: string, optional?: boolean) => Float32Array | undefined,
): BatchNormParameters {
  const axis = layer.config.axis;
  const axisValue = Array.isArray(axis) ? axis : [axis];
  if (axisValue.length !== 1 || (axisValue[0] !== 3 && axisValue[0] !== -1)) {
    throw new ModelFileError(
      `layer ${layer.name}: batch normalisation over axis ${JSON.stringify(axis)} is not supported (channels last only)`,
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
