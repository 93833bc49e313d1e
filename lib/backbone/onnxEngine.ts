/**
 * The frozen backbone on ONNX Runtime's CPU execution provider (about 13x the tfjs wasm
 * backend here), running backbone.onnx built from the same ImageNet weights (onnxExport.ts).
 */
import * as os from 'os';
import type * as OnnxRuntime from 'onnxruntime-node';
import { requireModule, type ModuleLoader } from '../core/backend';
import { UserFacingError } from '../core/errors';
import { onnxConvMapsName, onnxInputName, onnxPooledName } from './onnxGraph';
import { ensureBackboneOnnx } from './onnxExport';
import { ensureInt8BackboneOnnx, type Int8BuildOptions } from './onnxInt8';
import { WeightsPaths } from './weights';
import { convMapShape, featureLength, imageSize, imageValues, type FeatureEngine } from '../core/contracts';

/** onnxruntime-node is not installed, or its native binding cannot load on this machine. */
export class OnnxRuntimeUnavailableError extends UserFacingError {
  constructor(reason: string) {
    super(`onnxruntime-node cannot be loaded (${reason})`);
    this.name = 'OnnxRuntimeUnavailableError';
  }
}

let runtime: typeof OnnxRuntime | undefined;

/**
 * Loads onnxruntime-node on first use, so a missing or broken install is an error we can catch.
 * `load` is the seam tests use to declare it missing (see ModuleLoader in lib/core/backend.ts).
 */
export function loadOnnxRuntime(load: ModuleLoader = requireModule): typeof OnnxRuntime {
  if (load === requireModule && runtime) return runtime;
  let loaded: typeof OnnxRuntime;
  try {
    loaded = load('onnxruntime-node') as typeof OnnxRuntime;
  } catch (error) {
    throw new OnnxRuntimeUnavailableError(((error as Error).message ?? String(error)).split('\n')[0]);
  }
  if (load === requireModule) runtime = loaded;
  return loaded;
}

export interface OnnxEngineOptions {
  /** Threads for one convolution (intra-op); default: all cores. */
  threads?: number;
  log?: (line: string) => void;
  /** How onnxruntime-node is loaded (default require). */
  load?: ModuleLoader;
  /** 'int8': the quantized backbone (onnxQuantize.ts), built on first use from `int8`. */
  precision?: 'float32' | 'int8';
  int8?: Int8BuildOptions;
}

const convMapValues = convMapShape[0] * convMapShape[1] * convMapShape[2];

/**
 * An ONNX Runtime session on the CPU for one graph run one request at a time (no inter-op
 * parallelism to gain); a runtime that cannot open it is an OnnxRuntimeUnavailableError.
 */
export async function cpuSession(
  ort: typeof OnnxRuntime,
  model: string | Uint8Array,
  threads: number,
  what: string,
): Promise<OnnxRuntime.InferenceSession> {
  const options: OnnxRuntime.InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
  try {
    return typeof model === 'string'
      ? await ort.InferenceSession.create(model, options)
      : await ort.InferenceSession.create(model, options);
  } catch (error) {
    throw new OnnxRuntimeUnavailableError(
      `${what} failed: ${((error as Error).message ?? String(error)).split('\n')[0]}`,
    );
  }
}

export class OnnxFeatureEngine implements FeatureEngine {
  readonly name: 'onnxruntime' | 'onnxruntime-int8';
  readonly description: string;
  choice?: string;

  private constructor(
    private readonly ort: typeof OnnxRuntime,
    private readonly session: OnnxRuntime.InferenceSession,
    readonly threads: number,
    readonly precision: 'float32' | 'int8',
  ) {
    this.name = precision === 'int8' ? 'onnxruntime-int8' : 'onnxruntime';
    this.description = `${this.name} (cpu, ${threads} thread${threads === 1 ? '' : 's'})`;
  }

  /** Builds backbone.onnx if needed, then opens an ONNX Runtime session on it. */
  static async create(paths: WeightsPaths, options: OnnxEngineOptions = {}): Promise<OnnxFeatureEngine> {
    const ort = loadOnnxRuntime(options.load);
    const threads = options.threads ?? os.cpus().length;
    if (!Number.isInteger(threads) || threads < 1)
      throw new UserFacingError(`threads must be a positive integer, got ${threads}`);
    const precision = options.precision ?? 'float32';
    const onnxFile =
      precision === 'int8'
        ? await ensureInt8BackboneOnnx(paths, { ...options.int8, ort: ort }, options.log)
        : await ensureBackboneOnnx(paths, options.log);
    const session = await cpuSession(ort, onnxFile, threads, `session on ${onnxFile}`);
    return new OnnxFeatureEngine(ort, session, threads, precision);
  }

  private async run(
    input: Float32Array,
    count: number,
    outputName: string,
    valuesPerImage: number,
  ): Promise<Float32Array> {
    if (!Number.isInteger(count) || count < 1 || input.length < count * imageValues) {
      throw new Error(`input holds ${input.length} values, too few for ${count} images of ${imageSize}x${imageSize}x3`);
    }
    // Exactly count images: callers may pass a larger reusable buffer.
    const data = input.length === count * imageValues ? input : input.subarray(0, count * imageValues);
    const tensor = new this.ort.Tensor('float32', data, [count, imageSize, imageSize, 3]);
    const results = await this.session.run({ [onnxInputName]: tensor }, [outputName]);
    const values = results[outputName].data as Float32Array;
    if (values.length !== count * valuesPerImage)
      throw new Error(`expected ${count * valuesPerImage} values from ${outputName}, got ${values.length}`);
    return values;
  }

  pooledFeatures(input: Float32Array, count: number): Promise<Float32Array> {
    return this.run(input, count, onnxPooledName, featureLength);
  }

  convMaps(input: Float32Array, count: number): Promise<Float32Array> {
    return this.run(input, count, onnxConvMapsName, convMapValues);
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
