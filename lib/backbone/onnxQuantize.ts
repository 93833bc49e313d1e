/**
 * The int8 backbone: backbone.onnx (float32, batch norm folded) rewritten in QDQ form, so that
 * ONNX Runtime's CPU provider fuses each DequantizeLinear -> Conv -> QuantizeLinear group into
 * one QLinearConv (integer GEMM; VNNI on this machine) and each Add into QLinearAdd.
 *
 * - Conv weights: int8, symmetric, one scale per output channel: s_c = max|w_c| / 127.
 * - Conv biases: int32 with scale s_x * s_c (what the integer kernel accumulates in).
 * - Activations: uint8, one scale and zero point per tensor, from a calibration pass over
 *   training images (onnxCalibrate.ts). A ReLU after a Conv or Add is dropped: quantizing the
 *   result with zero point 0 clamps the negatives, which is the ReLU.
 * - Max pooling keeps its input's scale (ORT then pools the uint8 values directly).
 * The outputs (conv5 maps, pooled features) stay float32: the last activation is dequantized.
 */
import { onnx } from 'onnx-proto';
import { ModelFileError } from '../core/errors';
import { onnxInputName } from './onnxGraph';

/** The range an activation tensor took during calibration. */
export interface ActivationRange {
  min: number;
  max: number;
}

/** uint8 affine quantization of one tensor: real = scale * (q - zeroPoint). */
export interface QuantizationParameters {
  scale: number;
  zeroPoint: number;
}

const DataType = onnx.TensorProto.DataType;

/** uint8 parameters that represent `range` (widened to include 0, as zero padding must be exact). */
export function uint8Parameters(range: ActivationRange): QuantizationParameters {
  const low = Math.min(range.min, 0);
  const high = Math.max(range.max, 0);
  const scale = high > low ? (high - low) / 255 : 1;
  const zeroPoint = Math.min(255, Math.max(0, Math.round(-low / scale)));
  return { scale, zeroPoint };
}

/** Per-output-channel symmetric int8 weights (layout [out, ...]): values, scales. */
export function quantizeWeightsPerChannel(
  weights: Float32Array,
  outputs: number,
): { values: Int8Array; scales: Float32Array } {
  const perChannel = weights.length / outputs;
  const values = new Int8Array(weights.length);
  const scales = new Float32Array(outputs);
  for (let o = 0; o < outputs; o++) {
    let largest = 0;
    for (let i = o * perChannel; i < (o + 1) * perChannel; i++) largest = Math.max(largest, Math.abs(weights[i]));
    const scale = largest > 0 ? largest / 127 : 1;
    scales[o] = scale;
    for (let i = o * perChannel; i < (o + 1) * perChannel; i++) {
      values[i] = Math.max(-127, Math.min(127, Math.round(weights[i] / scale)));
    }
  }
  return { values, scales };
}

/** What a node's output needs: a quantized copy, with the range of which tensor (a dropped ReLU's). */
interface ActivationPlan {
  /** The tensor that gets QuantizeLinear -> DequantizeLinear. */
  tensor: string;
  /** The tensor whose calibrated range sets the parameters. */
  rangeOf: string;
  /** A ReLU made redundant by the quantization (zero point 0). */
  droppedRelu?: onnx.INodeProto;
}

function consumersOf(graph: onnx.IGraphProto): Map<string, onnx.INodeProto[]> {
  const consumers = new Map<string, onnx.INodeProto[]>();
  for (const node of graph.node ?? []) {
    for (const input of node.input ?? []) consumers.set(input, [...(consumers.get(input) ?? []), node]);
  }
  return consumers;
}

/**
 * For each node whose output is quantized: which tensor, with which range. Conv and Add outputs,
 * the input image (after its NHWC -> NCHW transpose), and any ReLU that is not dropped.
 */
function activationPlans(graph: onnx.IGraphProto): Map<onnx.INodeProto, ActivationPlan> {
  const consumers = consumersOf(graph);
  const plans = new Map<onnx.INodeProto, ActivationPlan>();
  const dropped = new Set<onnx.INodeProto>();
  for (const node of graph.node ?? []) {
    const output = node.output![0];
    const next = consumers.get(output) ?? [];
    if (node.opType === 'Conv' || node.opType === 'Add') {
      const relu = next.length === 1 && next[0].opType === 'Relu' ? next[0] : undefined;
      if (relu) dropped.add(relu);
      plans.set(node, { tensor: output, rangeOf: relu ? relu.output![0] : output, droppedRelu: relu });
    } else if (node.opType === 'Relu' && !dropped.has(node)) {
      plans.set(node, { tensor: output, rangeOf: output });
    } else if (node.opType === 'Transpose' && node.input![0] === onnxInputName) {
      plans.set(node, { tensor: output, rangeOf: output });
    }
  }
  return plans;
}

/** The activation tensors whose ranges the calibration must measure, in graph order. */
export function calibrationTensors(model: onnx.IModelProto): string[] {
  return [...activationPlans(model.graph!).values()].map((plan) => plan.rangeOf);
}

/** A copy of the float model that also outputs every tensor calibration measures. */
export function calibrationModel(model: onnx.IModelProto): Uint8Array {
  const graph = model.graph!;
  const extra = calibrationTensors(model).map((name) => ({
    name,
    type: { tensorType: { elemType: DataType.FLOAT } },
  }));
  const copy: onnx.IModelProto = { ...model, graph: { ...graph, output: [...(graph.output ?? []), ...extra] } };
  return onnx.ModelProto.encode(copy).finish();
}

function floatValues(tensor: onnx.ITensorProto): Float32Array {
  if (tensor.dataType !== DataType.FLOAT || !tensor.rawData)
    throw new ModelFileError(`initializer ${tensor.name} is not raw float32`);
  const raw = tensor.rawData;
  // Copy: a view needs a 4-byte aligned offset.
  return new Float32Array(new Uint8Array(raw).buffer.slice(0));
}

function bytesOf(values: ArrayBufferView): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/** Rewrites the float32 backbone into QDQ int8 with the calibrated activation ranges. */
export function quantizeBackbone(floatModel: onnx.IModelProto, ranges: Map<string, ActivationRange>): Uint8Array {
  const graph = floatModel.graph!;
  const plans = activationPlans(graph);
  const droppedRelus = new Set([...plans.values()].map((plan) => plan.droppedRelu).filter((node) => node));
  const initializers = new Map((graph.initializer ?? []).map((tensor) => [tensor.name!, tensor]));
  const usedAsConvParameter = new Set(
    (graph.node ?? []).filter((node) => node.opType === 'Conv').flatMap((node) => node.input!.slice(1)),
  );
  const newInitializers = (graph.initializer ?? []).filter((tensor) => !usedAsConvParameter.has(tensor.name!));
  const nodes: onnx.INodeProto[] = [];
  /** float tensor -> the name consumers use instead (its dequantized copy). */
  const renamed = new Map<string, string>();
  /** dequantized tensor -> its parameters (a convolution's input scale sets its bias scale). */
  const parametersOf = new Map<string, QuantizationParameters>();
  const rename = (name: string) => renamed.get(name) ?? name;

  const scalar = (name: string, dataType: number, raw: ArrayBufferView) =>
    newInitializers.push({ name, dims: [], dataType, rawData: bytesOf(raw) });
  const addQdq = (tensor: string, parameters: QuantizationParameters, aliases: string[] = []) => {
    scalar(`${tensor}/scale`, DataType.FLOAT, Float32Array.of(parameters.scale));
    scalar(`${tensor}/zero_point`, DataType.UINT8, Uint8Array.of(parameters.zeroPoint));
    const zeroPoint = `${tensor}/zero_point`;
    nodes.push({
      opType: 'QuantizeLinear',
      name: `${tensor}/quantize`,
      input: [tensor, `${tensor}/scale`, zeroPoint],
      output: [`${tensor}/uint8`],
    });
    nodes.push({
      opType: 'DequantizeLinear',
      name: `${tensor}/dequantize`,
      input: [`${tensor}/uint8`, `${tensor}/scale`, zeroPoint],
      output: [`${tensor}/dq`],
    });
    for (const name of [tensor, ...aliases]) renamed.set(name, `${tensor}/dq`);
    parametersOf.set(`${tensor}/dq`, parameters);
  };
  const rangeOf = (tensor: string): ActivationRange => {
    const range = ranges.get(tensor);
    if (!range || !Number.isFinite(range.min) || !Number.isFinite(range.max))
      throw new Error(`no calibrated range for ${tensor}`);
    return range;
  };

  for (const node of graph.node ?? []) {
    if (droppedRelus.has(node)) continue;
    const inputs = node.input!.map(rename);
    if (node.opType === 'Conv') {
      const [x, weightName, biasName] = node.input!;
      const input = parametersOf.get(rename(x));
      if (!input) throw new Error(`convolution ${node.name}: its input ${x} is not quantized`);
      const weight = initializers.get(weightName);
      if (!weight) throw new ModelFileError(`convolution ${node.name} has no weight initializer`);
      const outputs = Number(weight.dims![0]);
      const { values, scales } = quantizeWeightsPerChannel(floatValues(weight), outputs);
      newInitializers.push({
        name: `${weightName}/int8`,
        dims: weight.dims,
        dataType: DataType.INT8,
        rawData: bytesOf(values),
      });
      newInitializers.push({
        name: `${weightName}/scale`,
        dims: [outputs],
        dataType: DataType.FLOAT,
        rawData: bytesOf(scales),
      });
      newInitializers.push({
        name: `${weightName}/zero_point`,
        dims: [outputs],
        dataType: DataType.INT8,
        rawData: new Uint8Array(outputs),
      });
      nodes.push({
        opType: 'DequantizeLinear',
        name: `${weightName}/dequantize`,
        input: [`${weightName}/int8`, `${weightName}/scale`, `${weightName}/zero_point`],
        output: [`${weightName}/dq`],
        attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 }],
      });
      const convInputs = [inputs[0], `${weightName}/dq`];
      const bias = biasName ? initializers.get(biasName) : undefined;
      if (bias) {
        const biasValues = floatValues(bias);
        const biasScales = scales.map((scale) => scale * input.scale);
        const quantized = Int32Array.from(biasValues, (value, o) => Math.round(value / biasScales[o]));
        newInitializers.push({
          name: `${biasName}/int32`,
          dims: [outputs],
          dataType: DataType.INT32,
          rawData: bytesOf(quantized),
        });
        newInitializers.push({
          name: `${biasName}/scale`,
          dims: [outputs],
          dataType: DataType.FLOAT,
          rawData: bytesOf(biasScales),
        });
        newInitializers.push({
          name: `${biasName}/zero_point`,
          dims: [outputs],
          dataType: DataType.INT32,
          rawData: new Uint8Array(outputs * 4),
        });
        nodes.push({
          opType: 'DequantizeLinear',
          name: `${biasName}/dequantize`,
          input: [`${biasName}/int32`, `${biasName}/scale`, `${biasName}/zero_point`],
          output: [`${biasName}/dq`],
          attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 }],
        });
        convInputs.push(`${biasName}/dq`);
      }
      nodes.push({ ...node, input: convInputs });
    } else {
      nodes.push({ ...node, input: inputs });
    }
    const plan = plans.get(node);
    if (plan) {
      const aliases = plan.droppedRelu ? [plan.droppedRelu.output![0]] : [];
      addQdq(plan.tensor, uint8Parameters(rangeOf(plan.rangeOf)), aliases);
    } else if (node.opType === 'MaxPool' || node.opType === 'Pad') {
      // Same parameters as the input, so ORT can run them on the uint8 values.
      const parameters = parametersOf.get(inputs[0]);
      if (parameters) addQdq(node.output![0], parameters);
    }
  }
  const model: onnx.IModelProto = {
    ...floatModel,
    producerName: 'lib/backbone/onnxQuantize.ts',
    docString: `${floatModel.docString ?? ''} Quantized: QDQ, int8 per-channel weights, uint8 calibrated activations.`,
    graph: { ...graph, node: nodes, initializer: newInitializers },
  };
  return onnx.ModelProto.encode(model).finish();
}
