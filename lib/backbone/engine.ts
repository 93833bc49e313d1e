/**
 * Feature engines run the frozen backbone. Two implementations produce the same numbers:
 * tfjs (whatever backend was picked) and ONNX Runtime (much faster on CPU).
 */
import * as tf from '@tensorflow/tfjs';
import { loadBackbone } from './resnet50';
import { initBackend } from '../core/backend';
import type { BackendName, EngineName } from '../core/config';
import { UserFacingError } from '../core/errors';
import { OnnxFeatureEngine, OnnxRuntimeUnavailableError } from './onnxEngine';
import { WeightsPaths } from './weights';
import { convMapShape, featureLength, imageSize } from '../core/contracts';
import type { FeatureEngine } from '../core/contracts';

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
      const maps = this.backbone.predict(tf.tensor4d(input, [count, imageSize, imageSize, 3])) as tf.Tensor4D;
      return tf.mean(maps, [1, 2]);
    });
    const values = (await pooled.data()) as Float32Array;
    pooled.dispose();
    if (values.length !== count * featureLength)
      throw new Error(`expected ${count * featureLength} features, got ${values.length}`);
    return values;
  }

  async convMaps(input: Float32Array, count: number): Promise<Float32Array> {
    const maps = tf.tidy(
      () => this.backbone.predict(tf.tensor4d(input, [count, imageSize, imageSize, 3])) as tf.Tensor4D,
    );
    const values = (await maps.data()) as Float32Array;
    maps.dispose();
    if (values.length !== count * convMapShape[0] * convMapShape[1] * convMapShape[2])
      throw new Error('unexpected conv map size');
    return values;
  }

  async dispose(): Promise<void> {
    this.backbone.dispose();
  }
}

export interface CreateFeatureEngineOptions {
  /** Forced engine; undefined picks the fastest available (onnxruntime, else tfjs). */
  engine?: EngineName;
  /** ONNX Runtime intra-op threads; default all cores. */
  threads?: number;
  /** tfjs backend when tfjs is used; default the first that loads (see backend.ts). */
  backend?: BackendName;
  log?: (line: string) => void;
}

/**
 * Opens the feature engine and logs which one, e.g. "feature engine: onnxruntime (cpu, 2 threads)".
 * Without a forced engine, ONNX Runtime is tried first; if it cannot load, tfjs is used with one
 * log line saying why. A forced engine that fails throws.
 */
export async function createFeatureEngine(
  paths: WeightsPaths,
  options: CreateFeatureEngineOptions = {},
): Promise<FeatureEngine> {
  const log = options.log ?? console.log;
  if (options.engine !== undefined && options.engine !== 'onnxruntime' && options.engine !== 'tfjs') {
    throw new UserFacingError(`unknown feature engine "${String(options.engine)}"; choose onnxruntime or tfjs`);
  }
  let engine: FeatureEngine | undefined;
  if (options.engine !== 'tfjs') {
    try {
      engine = await OnnxFeatureEngine.create(paths, { threads: options.threads, log });
    } catch (error) {
      // Only a missing or broken runtime falls back; damaged weights are reported as they are.
      if (options.engine === 'onnxruntime' || !(error instanceof OnnxRuntimeUnavailableError)) throw error;
      log(`feature engine: ${error.message}; falling back to tfjs`);
    }
  }
  if (!engine) {
    await initBackend(options.backend, log);
    engine = await TfjsFeatureEngine.create(paths);
  }
  log(`feature engine: ${engine.description}`);
  return engine;
}

/**
 * An engine that starts only when features must be computed: when every image is in the feature
 * cache, the backbone is never loaded. `name` is the started engine's (the cache records it).
 */
export class LazyFeatureEngine implements FeatureEngine {
  private opening?: Promise<FeatureEngine>;
  private opened?: FeatureEngine;

  constructor(
    private readonly open: () => Promise<FeatureEngine>,
    private readonly expectedName: EngineName = 'onnxruntime',
  ) {}

  get name(): EngineName {
    return this.opened?.name ?? this.expectedName;
  }

  get description(): string {
    return this.opened?.description ?? 'not started (all features came from the cache)';
  }

  get started(): boolean {
    return this.opened !== undefined;
  }

  private engine(): Promise<FeatureEngine> {
    this.opening ??= this.open().then((engine) => (this.opened = engine));
    return this.opening;
  }

  async pooledFeatures(input: Float32Array, count: number): Promise<Float32Array> {
    return (await this.engine()).pooledFeatures(input, count);
  }

  async convMaps(input: Float32Array, count: number): Promise<Float32Array> {
    return (await this.engine()).convMaps(input, count);
  }

  async dispose(): Promise<void> {
    if (this.opening) await (await this.opening).dispose();
  }
}
