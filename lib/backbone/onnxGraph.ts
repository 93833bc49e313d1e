/**
 * The ONNX side of the ResNet50 export: a small builder for the NCHW graph (nodes, float32
 * initializers, deferred zero padding) and the encoding of the finished ModelProto.
 *
 * Encoding: the `onnx-proto` package (generated protobufjs code for onnx.proto v1.10) rather
 * than a hand-written protobuf writer: the message layout then comes from the official schema,
 * and its protobufjs Writer copies the 94 MB of raw weight bytes once, which is fast enough.
 */
import { onnx } from 'onnx-proto';
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

/** A tensor of the NCHW graph: its ONNX name, spatial size and channels (batch stays dynamic). */
export interface GraphTensor {
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

export function attribute(name: string, value: AttributeValue): onnx.IAttributeProto {
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

/** Collects the graph's nodes and initializers while the Keras layers are translated. */
export class OnnxGraph {
  readonly nodes: onnx.INodeProto[] = [];
  readonly initializers: onnx.ITensorProto[] = [];
  private padCount = 0;

  /** Adds a float32 initializer (its bytes are referenced, not copied) and returns its name. */
  addInitializer(name: string, dims: number[], values: Float32Array): string {
    this.initializers.push({
      name,
      dims,
      dataType: onnx.TensorProto.DataType.FLOAT,
      rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
    });
    return name;
  }

  /** Applies a pending ZeroPadding2D as an explicit Pad node (for consumers that cannot absorb it). */
  materialise(tensor: GraphTensor): GraphTensor {
    if (!tensor.pendingPads) return tensor;
    const [top, left, bottom, right] = tensor.pendingPads;
    const padsName = `pads_${this.padCount}`;
    // ONNX Pad order: all begins (N, C, H, W), then all ends.
    this.initializers.push({
      name: padsName,
      dims: [8],
      dataType: onnx.TensorProto.DataType.INT64,
      int64Data: [0, 0, top, left, 0, 0, bottom, right],
    });
    const output = `${tensor.onnxName}_padded${this.padCount++}`;
    this.nodes.push({ opType: 'Pad', input: [tensor.onnxName, padsName], output: [output], name: output });
    return {
      ...tensor,
      onnxName: output,
      height: tensor.height + top + bottom,
      width: tensor.width + left + right,
      pendingPads: undefined,
    };
  }

  /**
   * Adds the two outputs (conv maps back in NHWC, and their global average pool) after the last
   * layer's tensor and encodes the model.
   */
  encode(
    input: GraphTensor,
    output: GraphTensor | undefined,
    outputLayer: string | undefined,
    producer: string,
    extraOutputs: { name: string; tensor: GraphTensor }[] = [],
  ) {
    const nodes = this.nodes;
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
    for (const { name, tensor } of extraOutputs) {
      nodes.push({
        opType: 'Transpose',
        name: `${name}_to_nhwc`,
        input: [tensor.onnxName],
        output: [name],
        attribute: [attribute('perm', [0, 2, 3, 1])],
      });
    }

    const model: onnx.IModelProto = {
      irVersion,
      opsetImport: [{ domain: '', version: opsetVersion }],
      producerName: producer,
      docString:
        'ResNet50 without top (Keras ImageNet weights), batch norm folded into the convolutions. Input: ' +
        'caffe-preprocessed NHWC.',
      graph: {
        name: 'resnet50_notop',
        node: nodes,
        initializer: this.initializers,
        input: [valueInfo(onnxInputName, ['N', input.height, input.width, input.channels])],
        output: [
          valueInfo(onnxPooledName, ['N', output.channels]),
          valueInfo(onnxConvMapsName, ['N', output.height, output.width, output.channels]),
          ...extraOutputs.map(({ name, tensor }) =>
            valueInfo(name, ['N', tensor.height, tensor.width, tensor.channels]),
          ),
        ],
      },
    };
    return onnx.ModelProto.encode(model).finish();
  }
}
