/** Using a trained head: Keras' model.evaluate and model.predict on pooled features, and argmax. */
import * as tf from '@tensorflow/tfjs';
import { featureLength, FeatureSet } from '../core/contracts';
import { oneHot } from './train';

/** Loss and accuracy on a labelled set, like Keras' model.evaluate. */
export function evaluateHead(head: tf.LayersModel, set: FeatureSet): { loss: number; accuracy: number } {
  const classCount = head.outputs[0].shape[1] as number;
  return tf.tidy(() => {
    const x = tf.tensor2d(set.features, [set.labels.length, featureLength]);
    const y = oneHot(set.labels, classCount);
    const probabilities = head.predict(x) as tf.Tensor2D;
    const loss = tf.metrics.categoricalCrossentropy(y, probabilities).mean().dataSync()[0];
    const accuracy = tf.metrics.categoricalAccuracy(y, probabilities).mean().dataSync()[0];
    return { loss, accuracy };
  });
}

/** Softmax probabilities (n x classCount) like Keras' model.predict, as plain arrays. */
export function predictHead(head: tf.LayersModel, features: Float32Array): number[][] {
  const count = features.length / featureLength;
  if (count === 0) return [];
  return tf.tidy(() => (head.predict(tf.tensor2d(features, [count, featureLength])) as tf.Tensor2D).arraySync());
}

export function argmax(values: number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/**
 * The predicted class: with a threshold on a two-class model, the positive class when its
 * probability reaches the threshold (as the metrics count it); otherwise argmax.
 */
export function decide(
  probabilities: readonly number[],
  model: { positiveClass: number; threshold?: number },
  threshold = model.threshold,
): number {
  if (threshold === undefined || probabilities.length !== 2) return argmax(probabilities as number[]);
  return probabilities[model.positiveClass] >= threshold ? model.positiveClass : 1 - model.positiveClass;
}

/** Probabilities by class name, rounded to 6 decimals (float32 noise beyond that). */
export function probabilitiesByName(
  probabilities: readonly number[],
  classNames: readonly string[],
): Record<string, number> {
  return Object.fromEntries(classNames.map((name, index) => [name, Math.round(probabilities[index] * 1e6) / 1e6]));
}
