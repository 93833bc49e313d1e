/**
 * Temperature scaling (Guo et al. 2017): one number T that divides the head's logits before the
 * softmax, fitted on validation images by minimising their cross-entropy. T > 1 softens
 * over-confident probabilities; the ranking of images (and so the AUC) does not change.
 */
import * as tf from '@tensorflow/tfjs';
import { featureLength, FeatureSet } from '../core/contracts';
import { UserFacingError } from '../core/errors';

/**
 * The head's logits: the last Dense layer's pre-activation, computed from the layer before it with
 * the layer's own kernel and bias (the softmax is left out). An ensemble ends in the mean of its
 * heads' probabilities, which has no logits of its own: there the log-probabilities stand in
 * (softmax(log p / T) = p^(1/T) renormalised, the same scaling as on logits up to a per-row
 * constant that the softmax ignores).
 */
export function headLogits(head: tf.LayersModel, features: Float32Array): number[][] {
  const count = features.length / featureLength;
  if (count === 0) return [];
  const last = head.layers[head.layers.length - 1];
  const [kernel, bias] = last.getWeights();
  if (!kernel) {
    const probabilities = tf.tidy(
      () => (head.predict(tf.tensor2d(features, [count, featureLength])) as tf.Tensor2D).arraySync() as number[][],
    );
    return probabilities.map((row) => row.map((p) => Math.log(Math.max(p, 1e-30))));
  }
  return tf.tidy(() => {
    const penultimate = tf.model({ inputs: head.inputs, outputs: last.input as tf.SymbolicTensor });
    const hidden = penultimate.predict(tf.tensor2d(features, [count, featureLength])) as tf.Tensor2D;
    const logits = tf.matMul(hidden, kernel);
    return (bias ? logits.add(bias) : logits).arraySync() as number[][];
  });
}

/** softmax(logits / T) per row, in float64. */
export function softmaxWithTemperature(logits: readonly (readonly number[])[], temperature = 1): number[][] {
  return logits.map((row) => {
    const scaled = row.map((value) => value / temperature);
    const top = Math.max(...scaled);
    const exps = scaled.map((value) => Math.exp(value - top));
    const total = exps.reduce((a, b) => a + b, 0);
    return exps.map((value) => value / total);
  });
}

/** Mean cross-entropy of softmax(logits / T) against the labels. */
export function crossEntropyAt(logits: readonly (readonly number[])[], labels: readonly number[], temperature: number) {
  let total = 0;
  logits.forEach((row, index) => {
    const scaled = row.map((value) => value / temperature);
    const top = Math.max(...scaled);
    const logSum = top + Math.log(scaled.reduce((sum, value) => sum + Math.exp(value - top), 0));
    total += logSum - scaled[labels[index]];
  });
  return total / logits.length;
}

/**
 * The temperature that minimises the validation cross-entropy: golden-section search on log T in
 * [1/20, 20] (the loss is unimodal in T). Returns the loss before (T = 1) and after.
 */
export function fitTemperature(logits: readonly (readonly number[])[], labels: readonly number[]) {
  if (logits.length === 0 || logits.length !== labels.length)
    throw new UserFacingError(`temperature scaling needs labelled validation images, got ${logits.length}`);
  const loss = (logT: number) => crossEntropyAt(logits, labels, Math.exp(logT));
  const ratio = (Math.sqrt(5) - 1) / 2;
  let low = Math.log(1 / 20);
  let high = Math.log(20);
  let a = high - ratio * (high - low);
  let b = low + ratio * (high - low);
  let lossA = loss(a);
  let lossB = loss(b);
  for (let step = 0; step < 60; step++) {
    if (lossA < lossB) {
      high = b;
      b = a;
      lossB = lossA;
      a = high - ratio * (high - low);
      lossA = loss(a);
    } else {
      low = a;
      a = b;
      lossA = lossB;
      b = low + ratio * (high - low);
      lossB = loss(b);
    }
  }
  const temperature = Math.exp((low + high) / 2);
  return { temperature, lossBefore: loss(0), lossAfter: loss(Math.log(temperature)) };
}

export interface Probabilities {
  /** What the head's softmax gives. */
  raw: number[][];
  /** softmax(logits / T); the same as raw when the model has no temperature. */
  calibrated: number[][];
}

/** Raw and temperature-scaled probabilities of feature rows. */
export function calibratedProbabilities(
  head: tf.LayersModel,
  features: Float32Array,
  temperature: number | undefined,
): Probabilities {
  const logits = headLogits(head, features);
  const raw = softmaxWithTemperature(logits, 1);
  return { raw, calibrated: temperature === undefined ? raw : softmaxWithTemperature(logits, temperature) };
}

/** fitTemperature on a labelled feature set. */
export function fitTemperatureOn(head: tf.LayersModel, validation: FeatureSet) {
  return fitTemperature(headLogits(head, validation.features), validation.labels);
}
