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
}

/** Input: the pooled 2048 features. Seeded Glorot initialisation, as Keras' default but reproducible. */
export function buildHead({ hiddenUnits, classCount, seed }: HeadOptions): tf.LayersModel {
  const input = tf.input({ shape: [featureLength], name: 'pooled_features' });
  let x: tf.SymbolicTensor = input;
  hiddenUnits.forEach((units, index) => {
    x = tf.layers
      .dense({
        units,
        activation: 'relu',
        name: `fc${index + 1}`,
        kernelInitializer: tf.initializers.glorotUniform({ seed: seed + index }),
      })
      .apply(x) as tf.SymbolicTensor;
  });
  const predictions = tf.layers
    .dense({
      units: classCount,
      activation: 'softmax',
      name: 'predictions',
      kernelInitializer: tf.initializers.glorotUniform({ seed: seed + hiddenUnits.length }),
    })
    .apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: predictions, name: 'covid_head' });
}

/**
 * The article's full model: ResNet50 (frozen) -> GlobalAveragePooling2D -> head. The head's layers
 * are shared, not copied, so this model always predicts what the trained head predicts.
 */
export function buildClassifier(backbone: tf.LayersModel, head: tf.LayersModel): tf.LayersModel {
  const pooled = tf.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(backbone.outputs[0]) as tf.SymbolicTensor;
  let x = pooled;
  for (const layer of head.layers.slice(1)) x = layer.apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: backbone.inputs, outputs: x, name: 'resnet50_covid' });
}

/** model.summary() as text lines, for notebooks and reports. */
export function summaryLines(model: tf.LayersModel, lineLength = 100): string[] {
  const lines: string[] = [];
  model.summary(lineLength, undefined, (line: string) => lines.push(line));
  return lines;
}

export function parameterCounts(model: tf.LayersModel): { trainable: number; frozen: number } {
  const count = (weights: tf.LayerVariable[]) =>
    weights.reduce((sum, weight) => sum + weight.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
  return { trainable: count(model.trainableWeights), frozen: count(model.nonTrainableWeights) };
}
