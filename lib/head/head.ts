/**
 * Head restructuring: the ImageNet top is replaced by global average pooling and three fully
 * connected layers ending in two softmax outputs (COVID-19, NORMAL). The head is trained on the
 * pooled 2048-feature vectors; `buildClassifier` joins it to the frozen backbone for Grad-CAM and summaries.
 */
import * as tf from '@tensorflow/tfjs';
import { featureLength } from '../core/contracts';

export interface HeadOptions {
  hiddenUnits: number[];
  classCount: number;
  seed: number;
  /** Dropout rate after each hidden layer (0: none). */
  dropout?: number;
  /** L2 weight decay on every Dense kernel (Keras' l2: adds weightDecay * sum(w^2) to the training loss). */
  weightDecay?: number;
  /** Prefix of every layer name, so that several heads can live in one model (an ensemble). */
  namePrefix?: string;
}

/**
 * Dropout with a seeded mask that changes every training step. tf.layers.dropout({ seed }) passes the
 * same seed to every call, so it would draw the same mask at every step; this layer derives each
 * step's seed from a counter instead: reproducible, and a new mask each step. A no-op at inference.
 */
export class SeededDropout extends tf.layers.Layer {
  static className = 'SeededDropout';
  readonly rate: number;
  readonly seed: number;
  private step = 0;
  constructor(config: { rate: number; seed: number; name?: string }) {
    super({ name: config.name });
    this.rate = config.rate;
    this.seed = config.seed;
  }
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor {
    const input = Array.isArray(inputs) ? inputs[0] : inputs;
    if (!kwargs.training || this.rate <= 0) return input;
    const seed = (this.seed * 1000003 + this.step++) % 2147483647;
    return tf.dropout(input, this.rate, undefined, seed);
  }
  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), rate: this.rate, seed: this.seed };
  }
}
tf.serialization.registerClass(SeededDropout);

/** Input: the pooled 2048 features. Seeded Glorot initialisation, as Keras' default but reproducible. */
export function buildHead(options: HeadOptions): tf.LayersModel {
  const { hiddenUnits, classCount, seed, dropout = 0, weightDecay = 0, namePrefix = '' } = options;
  const input = tf.input({ shape: [featureLength], name: `${namePrefix}pooled_features` });
  const kernelRegularizer = weightDecay > 0 ? tf.regularizers.l2({ l2: weightDecay }) : undefined;
  let x: tf.SymbolicTensor = input;
  hiddenUnits.forEach((units, index) => {
    x = tf.layers
      .dense({
        units,
        activation: 'relu',
        name: `${namePrefix}fc${index + 1}`,
        kernelInitializer: tf.initializers.glorotUniform({ seed: seed + index }),
        kernelRegularizer,
      })
      .apply(x) as tf.SymbolicTensor;
    if (dropout > 0) {
      const name = `${namePrefix}dropout${index + 1}`;
      x = new SeededDropout({ rate: dropout, seed: seed + 100 + index, name }).apply(x) as tf.SymbolicTensor;
    }
  });
  const predictions = tf.layers
    .dense({
      units: classCount,
      activation: 'softmax',
      name: `${namePrefix}predictions`,
      kernelInitializer: tf.initializers.glorotUniform({ seed: seed + hiddenUnits.length }),
      kernelRegularizer,
    })
    .apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: predictions, name: `${namePrefix}covid_head` });
}

/** The layers of a head after its input, in order (a head is a chain of layers). */
function chain(head: tf.LayersModel): tf.layers.Layer[] {
  return head.layers.slice(1);
}

/**
 * An ensemble as one model: the heads' layers (shared, not copied) side by side on one input, and
 * the mean of their probabilities as the output. It saves, loads, predicts and explains (Grad-CAM)
 * as a single head does. The heads must have distinct layer names (buildHead's namePrefix); they
 * are released, so use only the returned model afterwards.
 */
export function combineHeads(heads: tf.LayersModel[]): tf.LayersModel {
  if (heads.length === 0) throw new Error('combineHeads needs at least one head');
  if (heads.length === 1) return heads[0];
  const input = tf.input({ shape: [featureLength], name: 'pooled_features' });
  const outputs = heads.map((head) => {
    let x: tf.SymbolicTensor = input;
    for (const layer of chain(head)) x = layer.apply(x) as tf.SymbolicTensor;
    return x;
  });
  const mean = tf.layers.average({ name: 'predictions' }).apply(outputs) as tf.SymbolicTensor;
  const ensemble = tf.model({ inputs: input, outputs: mean, name: `covid_heads_x${heads.length}` });
  // The ensemble now holds the layers: releasing the member models frees their optimizers only
  // (the layers' weights stay until the ensemble is disposed).
  heads.forEach((head) => head.dispose());
  return ensemble;
}

/**
 * The article's full model: ResNet50 (frozen) -> GlobalAveragePooling2D -> head. The head's layers
 * are shared, not copied, so this model always predicts what the trained head predicts.
 */
export function buildClassifier(backbone: tf.LayersModel, head: tf.LayersModel): tf.LayersModel {
  const pooled = tf.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(backbone.outputs[0]) as tf.SymbolicTensor;
  const isChain = head.layers.every((layer) => layer.inboundNodes.every((node) => node.inboundLayers.length <= 1));
  let x = pooled;
  if (isChain) for (const layer of chain(head)) x = layer.apply(x) as tf.SymbolicTensor;
  else x = head.apply(pooled) as tf.SymbolicTensor; // an ensemble: its branches as one nested model
  return tf.model({ inputs: backbone.inputs, outputs: x, name: 'resnet50_covid' });
}

/** model.summary() as text lines, for notebooks and reports. */
/**
 * Keras' model.summary, one line per layer with the whole "name (type)" (tfjs' own summary cuts it
 * at a fixed column: "conv5_block3_out (Activ"), the output shape and the parameter count.
 */
export function summaryLines(model: tf.LayersModel): string[] {
  const shapeOf = (layer: tf.layers.Layer) => {
    try {
      return JSON.stringify(layer.outputShape);
    } catch {
      return 'multiple'; // a layer used at several places with different shapes
    }
  };
  const header = ['Layer (type)', 'Output shape', 'Param #'];
  const rows = model.layers.map((layer) => [
    `${layer.name} (${layer.getClassName()})`,
    shapeOf(layer),
    String(layer.countParams()),
  ]);
  const widths = header.map((_, column) => Math.max(...[header, ...rows].map((row) => row[column].length)));
  const format = (row: string[]) =>
    row.map((cell, column) => (column === 2 ? cell.padStart(widths[column]) : cell.padEnd(widths[column]))).join('   ');
  const rule = '='.repeat(format(header).length);
  const counts = parameterCounts(model);
  const number = (value: number) => value.toLocaleString('en');
  return [
    format(header),
    rule,
    ...rows.map(format),
    rule,
    `Total params: ${number(counts.trainable + counts.frozen)}`,
    `Trainable params: ${number(counts.trainable)}`,
    `Non-trainable params: ${number(counts.frozen)}`,
  ];
}

export function parameterCounts(model: tf.LayersModel): { trainable: number; frozen: number } {
  const count = (weights: tf.LayerVariable[]) =>
    weights.reduce((sum, weight) => sum + weight.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
  return { trainable: count(model.trainableWeights), frozen: count(model.nonTrainableWeights) };
}
