/**
 * backbone-int8.onnx: calibrated on training images, built from backbone.onnx (onnxQuantize.ts),
 * stored beside it with a record (backbone-int8.onnx.json) of what it was built from: the float
 * model's sha256, the quantizer version, the calibration settings and images, and its own sha256.
 * It is rebuilt when any of them changes or the file is damaged.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type * as OnnxRuntime from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { writeFileAtomic, writeJsonAtomic } from '../core/atomic';
import { imageSize, imageValues, type ProgressFactory, silentProgress } from '../core/contracts';
import { UserFacingError } from '../core/errors';
import { createRandom, shuffled } from '../core/random';
import { preprocessedBatches } from './featurePipeline';
import { onnxInputName } from './onnxGraph';
import { ensureBackboneOnnx, onnxModelPaths } from './onnxExport';
import { ActivationRange, calibrationModel, calibrationTensors, quantizeBackbone } from './onnxQuantize';
import { WeightsPaths } from './weights';

/** Bumped whenever onnxQuantize.ts or the calibration changes what they produce. */
const quantizerVersion = 1;

export interface CalibrationSettings {
  /** 'minmax': the full range seen; 'percentile': clip each tensor to [100-p, p] percentiles. */
  method: 'minmax' | 'percentile';
  percentile: number;
  /** How many training images (picked with `seed`). */
  images: number;
  seed: number;
}

const defaultCalibration: CalibrationSettings = { method: 'minmax', percentile: 99.99, images: 256, seed: 42 };

export interface Int8BuildOptions extends Partial<CalibrationSettings> {
  /** Training images to calibrate on (never test images); needed only when the model must be built. */
  calibrationFiles?: () => string[];
  progress?: ProgressFactory;
}

export interface Int8Record {
  quantizerVersion: number;
  floatOnnxSha256: string;
  calibration: CalibrationSettings & { files: string[] };
  onnxSha256: string;
  onnxBytes: number;
  builtAt: string;
}

export function int8ModelPaths(paths: WeightsPaths): { onnxFile: string; recordFile: string } {
  const onnxFile = path.join(paths.backboneDir, 'backbone-int8.onnx');
  return { onnxFile, recordFile: `${onnxFile}.json` };
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function floatSha256(paths: WeightsPaths): string {
  const record = JSON.parse(fs.readFileSync(onnxModelPaths(paths).recordFile, 'utf8')) as { onnxSha256: string };
  return record.onnxSha256;
}

/** The calibration images: `images` of the training files, picked with `seed`, in a stable order. */
export function pickCalibrationFiles(files: string[], settings: CalibrationSettings): string[] {
  return shuffled([...files].sort(), createRandom(settings.seed)).slice(0, settings.images);
}

/** Why the stored int8 model cannot be used, or undefined. Needs an up-to-date backbone.onnx. */
export function int8StaleReason(paths: WeightsPaths, settings: CalibrationSettings): string | undefined {
  const { onnxFile, recordFile } = int8ModelPaths(paths);
  if (!fs.existsSync(onnxFile)) return 'not built yet';
  let record: Int8Record;
  try {
    record = JSON.parse(fs.readFileSync(recordFile, 'utf8')) as Int8Record;
  } catch {
    return `${path.basename(recordFile)} is missing or unreadable`;
  }
  if (record.quantizerVersion !== quantizerVersion)
    return `built by quantizer version ${record.quantizerVersion}, current is ${quantizerVersion}`;
  if (record.floatOnnxSha256 !== floatSha256(paths)) return 'built from another float32 backbone';
  const { method, percentile, images, seed } = record.calibration ?? {};
  if (method !== settings.method || images !== settings.images || seed !== settings.seed)
    return 'built with other calibration settings';
  if (method === 'percentile' && percentile !== settings.percentile) return 'built with another percentile';
  const data = fs.readFileSync(onnxFile);
  if (data.length !== record.onnxBytes || sha256(data) !== record.onnxSha256)
    return 'the file does not match its recorded sha256 (damaged or modified)';
  return undefined;
}

/** Values kept per tensor per batch for the percentile method (a fixed stride: deterministic). */
const samplesPerBatch = 4096;

function percentileOf(sorted: Float32Array, p: number): number {
  const index = Math.min(sorted.length - 1, Math.max(0, Math.round((p / 100) * (sorted.length - 1))));
  return sorted[index];
}

/**
 * Runs the float32 backbone over the calibration images and returns each activation's range.
 * Deterministic: same files and settings, same ranges.
 */
export async function calibrate(
  floatModel: onnx.IModelProto,
  files: string[],
  settings: CalibrationSettings,
  ort: typeof OnnxRuntime,
  progress: ProgressFactory = silentProgress,
): Promise<Map<string, ActivationRange>> {
  const tensors = calibrationTensors(floatModel);
  const session = await ort.InferenceSession.create(calibrationModel(floatModel), {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'basic',
  });
  const minimum = new Map(tensors.map((name) => [name, Infinity]));
  const maximum = new Map(tensors.map((name) => [name, -Infinity]));
  const samples = new Map<string, Float32Array[]>(tensors.map((name) => [name, []]));
  const bar = progress('calibrating the int8 backbone', files.length);
  let done = 0;
  let used = 0;
  try {
    for await (const batch of preprocessedBatches(files, { batchSize: 4 })) {
      done += batch.count + batch.skipped.length;
      if (batch.count === 0) continue;
      const input = new ort.Tensor('float32', batch.input.subarray(0, batch.count * imageValues), [
        batch.count,
        imageSize,
        imageSize,
        3,
      ]);
      const results = await session.run({ [onnxInputName]: input }, tensors);
      for (const name of tensors) {
        const values = results[name].data as Float32Array;
        let low = minimum.get(name)!;
        let high = maximum.get(name)!;
        for (let i = 0; i < values.length; i++) {
          const value = values[i];
          if (value < low) low = value;
          if (value > high) high = value;
        }
        minimum.set(name, low);
        maximum.set(name, high);
        if (settings.method === 'percentile') {
          const stride = Math.max(1, Math.floor(values.length / samplesPerBatch));
          const kept = new Float32Array(Math.ceil(values.length / stride));
          for (let i = 0, j = 0; i < values.length; i += stride, j++) kept[j] = values[i];
          samples.get(name)!.push(kept);
        }
      }
      used += batch.count;
      bar.update(done);
    }
  } finally {
    await session.release();
  }
  bar.finish(`${used} images`);
  if (used === 0) throw new UserFacingError('no calibration image could be read');
  const ranges = new Map<string, ActivationRange>();
  for (const name of tensors) {
    if (settings.method === 'minmax') {
      ranges.set(name, { min: minimum.get(name)!, max: maximum.get(name)! });
      continue;
    }
    const all = new Float32Array(samples.get(name)!.reduce((sum, part) => sum + part.length, 0));
    let offset = 0;
    for (const part of samples.get(name)!) {
      all.set(part, offset);
      offset += part.length;
    }
    all.sort();
    ranges.set(name, {
      min: percentileOf(all, 100 - settings.percentile),
      max: percentileOf(all, settings.percentile),
    });
  }
  return ranges;
}

/** Calibrates and writes backbone-int8.onnx with its record (atomically, model first). */
async function buildInt8BackboneOnnx(
  paths: WeightsPaths,
  options: Int8BuildOptions & { ort: typeof OnnxRuntime },
  log: (line: string) => void = console.log,
): Promise<Int8Record> {
  const settings = calibrationSettings(options);
  const floatFile = await ensureBackboneOnnx(paths, log);
  if (!options.calibrationFiles)
    throw new UserFacingError(
      'the int8 backbone must be built, which needs training images to calibrate on: run notebooks/01-data.ipynb (the split) and open the backbone through openBackbone, or use the float32 engine',
    );
  const files = pickCalibrationFiles(options.calibrationFiles(), settings);
  if (files.length === 0) throw new UserFacingError('no training images to calibrate the int8 backbone on');
  const floatModel = onnx.ModelProto.decode(fs.readFileSync(floatFile));
  const ranges = await calibrate(floatModel, files, settings, options.ort, options.progress);
  const bytes = quantizeBackbone(floatModel, ranges);
  const record: Int8Record = {
    quantizerVersion,
    floatOnnxSha256: floatSha256(paths),
    calibration: { ...settings, files: files.map((file) => path.basename(file)) },
    onnxSha256: sha256(bytes),
    onnxBytes: bytes.length,
    builtAt: new Date().toISOString(),
  };
  const { onnxFile, recordFile } = int8ModelPaths(paths);
  await writeFileAtomic(onnxFile, bytes);
  await writeJsonAtomic(recordFile, record);
  return record;
}

/** The path of an up-to-date backbone-int8.onnx, calibrating and building it first when needed. */
export async function ensureInt8BackboneOnnx(
  paths: WeightsPaths,
  options: Int8BuildOptions & { ort: typeof OnnxRuntime },
  log: (line: string) => void = console.log,
): Promise<string> {
  await ensureBackboneOnnx(paths, log);
  const settings = calibrationSettings(options);
  const reason = int8StaleReason(paths, settings);
  const { onnxFile } = int8ModelPaths(paths);
  if (reason) {
    log(`Building ${onnxFile} (${reason}): calibrating on ${settings.images} training images (${settings.method})...`);
    await buildInt8BackboneOnnx(paths, options, log);
  }
  return onnxFile;
}

/** The calibration settings of `options`, with defaults for those not given. */
export function calibrationSettings(options: Partial<CalibrationSettings>): CalibrationSettings {
  return {
    method: options.method ?? defaultCalibration.method,
    percentile: options.percentile ?? defaultCalibration.percentile,
    images: options.images ?? defaultCalibration.images,
    seed: options.seed ?? defaultCalibration.seed,
  };
}
