/**
 * Translates the converted Keras ResNet50 (tfjs layers-model JSON + one float32 weights.bin) into
 * an ONNX ModelProto, so ONNX Runtime can run the very same ImageNet weights.
 *
 * Only the layer types ResNet50 uses are supported (InputLayer, ZeroPadding2D, Conv2D,
 * BatchNormalization, Activation relu/linear, MaxPooling2D, Add); anything else is refused with
 * the layer's name rather than silently mistranslated.
 * The ONNX graph builder and the encoding are in onnxGraph.ts, the weights and batch-norm folding
 * in kerasWeights.ts.
 */
import * as os from 'os';
import { ModelFileError } from '../core/errors';
import { batchNormParameters, foldBatchNorm, KerasLayer, KerasModelJson, readWeights } from './kerasWeights';
import { attribute, GraphTensor, onnxInputName, OnnxGraph } from './onnxGraph';

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

  const graph = new OnnxGraph();
  const tensors = new Map<string, GraphTensor>();
  const foldedInto = new Map<string, string>(); // BN layer name -> conv layer folded into it

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
        graph.nodes.push({
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
        const source = graph.materialise(inputOf(layer));
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
            `layer ${name}: kernel holds ${kernel.length} values, expected ` +
              `${kernelY}x${kernelX}x${source.channels}x${filters}`,
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
        graph.nodes.push({
          opType: 'Conv',
          name: tensorName,
          input: [
            source.onnxName,
            graph.addInitializer(`${tensorName}/weight`, [filters, source.channels, kernelY, kernelX], folded.kernel),
            graph.addInitializer(`${tensorName}/bias`, [filters], folded.bias),
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
        const source = graph.materialise(inputOf(layer));
        if (layerConfig.activation === 'linear') {
          tensors.set(name, source);
        } else if (layerConfig.activation === 'relu') {
          graph.nodes.push({ opType: 'Relu', name, input: [source.onnxName], output: [outputName] });
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
        if (source.pendingPads && !source.nonNegative) source = graph.materialise(source);
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
        graph.nodes.push({
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
        const inputs = (layer.inbound_nodes[0] ?? []).map((_, index) => graph.materialise(inputOf(layer, index)));
        if (inputs.length !== 2)
          throw new ModelFileError(`layer ${name}: Add of ${inputs.length} inputs is not supported`);
        const [a, b] = inputs;
        if (a.height !== b.height || a.width !== b.width || a.channels !== b.channels) {
          throw new ModelFileError(
            `layer ${name}: adds ${a.height}x${a.width}x${a.channels} to ${b.height}x${b.width}x${b.channels}`,
          );
        }
        graph.nodes.push({ opType: 'Add', name, input: [a.onnxName, b.onnxName], output: [outputName] });
        tensors.set(name, { ...a, onnxName: outputName, nonNegative: a.nonNegative && b.nonNegative });
        break;
      }
      default:
        throw new ModelFileError(`layer ${name}: type ${layer.class_name} is not supported by the ONNX export`);
    }
  }

  const outputLayer = config.output_layers[0]?.[0];
  const output = outputLayer ? tensors.get(outputLayer) : undefined;
  const inputLayer = layers.find((layer) => layer.class_name === 'InputLayer');
  const input = tensors.get(inputLayer?.name ?? '')!;
  // Extra outputs (fine-tuning, lib/finetune): inner layers in NHWC, named as the layer.
  const extra = extraOutputs.map((layerName) => {
    const inner = tensors.get(layerName);
    if (!inner || inner.pendingPads) throw new ModelFileError(`layer ${layerName} is not in the model`);
    return { name: layerName, tensor: inner };
  });
  return graph.encode(input, output, outputLayer, producer, extra);
}
