/**
 * Feature engines run the frozen backbone. Two implementations produce the same numbers:
 * tfjs (whatever backend was picked) and ONNX Runtime (much faster on CPU).
 */
import * as tf from '@tensorflow/tfjs';
import { convMapShape, featureLength, loadBackbone } from './backbone';
import type { EngineName } from './config';
import { WeightsPaths } from './weights';

export interface FeatureEngine {
  readonly name: EngineName;
  /** Human-readable, e.g. "tfjs (wasm)" or "onnxruntime (cpu, 2 threads)". */
  readonly description: string;
  /** input: `count` caffe-preprocessed 224x224x3 images, NHWC. Returns count x 2048 global-average-pooled features. */
  pooledFeatures(input: Float32Array, count: number): Promise<Float32Array>;
  /** Same input; returns conv5_block3_out as count x 7 x 7 x 2048 (NHWC), for Grad-CAM. */
  convMaps(input: Float32Array, count: number): Promise<Float32Array>;
  dispose(): Promise<void>;
}

export class TfjsFeatureEngine implements FeatureEngine {
  readonly name = 'tfjs' as const;
  readonly description: string;

  private constructor(private readonly backbone: tf.LayersModel) {
    this.description = `tfjs (${tf.getBackend()})`;
  }

  static async create(paths: WeightsPaths): Promise<TfjsFeatureEngine> {
    return new TfjsFeatureEngine(await loadBackbone(paths));
  }

  /** The underlying model, e.g. for model.summary(). */
  get model(): tf.LayersModel {
    return this.backbone;
  }

  async pooledFeatures(input: Float32Array, count: number): Promise<Float32Array> {
    const pooled = tf.tidy(() => {
      const maps = this.backbone.predict(tf.tensor4d(input, [count, 224, 224, 3])) as tf.Tensor4D;
      return tf.mean(maps, [1, 2]);
    });
    const values = (await pooled.data()) as Float32Array;
    pooled.dispose();
    if (values.length !== count * featureLength) throw new Error(`expected ${count * featureLength} features, got ${values.length}`);
    return values;
  }

  async convMaps(input: Float32Array, count: number): Promise<Float32Array> {
    const maps = tf.tidy(() => this.backbone.predict(tf.tensor4d(input, [count, 224, 224, 3])) as tf.Tensor4D);
    const values = (await maps.data()) as Float32Array;
    maps.dispose();
    if (values.length !== count * convMapShape[0] * convMapShape[1] * convMapShape[2]) throw new Error('unexpected conv map size');
    return values;
  }

  async dispose(): Promise<void> {
    this.backbone.dispose();
  }
}
