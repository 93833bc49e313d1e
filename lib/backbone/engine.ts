/**
 * Feature engines run the frozen backbone. Two implementations produce the same numbers:
 * tfjs (whatever backend was picked) and ONNX Runtime (much faster on CPU).
 */
import * as tf from '@tensorflow/tfjs';
import { loadBackbone } from './resnet50';
import { initBackend, isNativeBackend, type ModuleLoader } from '../core/backend';
import { engineNames, type BackendName, type EngineName } from '../core/config';
import { UserFacingError } from '../core/errors';
import { OnnxFeatureEngine, OnnxRuntimeUnavailableError } from './onnxEngine';
import type { Int8BuildOptions } from './onnxInt8';
import { WeightsPaths } from './weights';
import { convMapShape, featureLength, imageSize } from '../core/contracts';
import type { FeatureEngine } from '../core/contracts';

export class TfjsFeatureEngine implements FeatureEngine {
  readonly name = 'tfjs' as const;
  readonly description: string;
  choice?: string;

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
  /** Forced engine; undefined picks the default for the backend (see defaultEngine). */
  engine?: EngineName;
  /** ONNX Runtime intra-op threads; default all cores. */
  threads?: number;
  /** tfjs backend; default the first that loads (see backend.ts). Initialised before the choice. */
  backend?: BackendName;
  /** How optional modules are loaded (default require): the seam tests use to declare them missing. */
  load?: ModuleLoader;
  /** What the int8 engine needs to build its model when it is missing or stale (onnxQuantize.ts). */
  int8?: Int8BuildOptions;
  log?: (line: string) => void;
}

export interface EngineChoice {
  engine: EngineName;
  /** Why, for the log line and metrics.json. */
  reason: string;
}

/** The engine used on CPU-only backends unless one is forced. */
const cpuDefaultEngine: EngineName = 'onnxruntime';

/**
 * Which engine runs the backbone: a forced one; else tfjs when the backend is native TensorFlow
 * (on a GPU it is an order of magnitude faster than ONNX Runtime on the CPU, and libtensorflow on
 * the CPU is as fast as it); else ONNX Runtime, 13x tfjs on wasm.
 */
export function defaultEngine(backend: BackendName, forced?: EngineName): EngineChoice {
  if (forced) return { engine: forced, reason: 'forced by engine / FEATURE_ENGINE' };
  if (isNativeBackend(backend)) return { engine: 'tfjs', reason: `default on the native ${backend} backend` };
  return { engine: cpuDefaultEngine, reason: `default on the ${backend} backend (no native TensorFlow)` };
}

/**
 * Opens the feature engine and logs the choice in one line, e.g.
 * "feature engine: onnxruntime (cpu, 2 threads); default on the wasm backend (no native TensorFlow)".
 * The tfjs backend is initialised first, since it decides the default. When the default ONNX
 * Runtime cannot load, tfjs is used with one log line saying why. A forced engine that fails throws.
 */
export async function createFeatureEngine(
  paths: WeightsPaths,
  options: CreateFeatureEngineOptions = {},
): Promise<FeatureEngine> {
  const log = options.log ?? console.log;
  if (options.engine !== undefined && !engineNames.includes(options.engine)) {
    throw new UserFacingError(
      `unknown feature engine "${String(options.engine)}"; choose one of ${engineNames.join(', ')}`,
    );
  }
  const backend = await initBackend(options.backend, log, options.load);
  let choice = defaultEngine(backend, options.engine);
  let engine: FeatureEngine | undefined;
  if (choice.engine !== 'tfjs') {
    const precision = choice.engine === 'onnxruntime-int8' ? 'int8' : 'float32';
    try {
      engine = await OnnxFeatureEngine.create(paths, {
        threads: options.threads,
        log,
        load: options.load,
        precision,
        int8: options.int8,
      });
    } catch (error) {
      // Only a missing or broken runtime falls back; damaged weights are reported as they are.
      if (options.engine !== undefined || !(error instanceof OnnxRuntimeUnavailableError)) throw error;
      choice = { engine: 'tfjs', reason: `${error.message}; falling back to tfjs` };
    }
  }
  engine ??= await TfjsFeatureEngine.create(paths);
  engine.choice = choice.reason;
  log(`feature engine: ${engine.description}; ${choice.reason}`);
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

  get choice(): string | undefined {
    return this.opened?.choice;
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
