/**
 * The shapes that the pipeline's steps hand to each other: the backbone's input and outputs,
 * a feature engine, a labelled feature set, and a progress reporter. Kept in one small file so
 * that no step has to import another step's implementation to agree on them.
 */
import type { EngineName } from './config';

/** ResNet50's input side in pixels (Keras' target_size=(224, 224)); the engines are built for it. */
export const imageSize = 224;
/** Values per caffe-preprocessed input image, NHWC. */
export const imageValues = imageSize * imageSize * 3;
/** Length of the pooled feature vector: global average pooling of conv5_block3_out. */
export const featureLength = 2048;
/** conv5_block3_out per image, NHWC without the batch axis. */
export const convMapShape = [7, 7, 2048] as const;

export interface FeatureEngine {
  readonly name: EngineName;
  /** Human-readable, e.g. "tfjs (wasm)" or "onnxruntime (cpu, 2 threads)". */
  readonly description: string;
  /** Why this engine runs (forced, or the backend's default), set when it is opened. */
  choice?: string;
  /** `count` caffe-preprocessed 224x224x3 images, NHWC -> count x 2048 pooled features. */
  pooledFeatures(input: Float32Array, count: number): Promise<Float32Array>;
  /** Same input -> conv5_block3_out as count x 7 x 7 x 2048 (NHWC), for Grad-CAM. */
  convMaps(input: Float32Array, count: number): Promise<Float32Array>;
  dispose(): Promise<void>;
}

/** Pooled features of n images (row-major n x 2048) and their class indices. */
export interface FeatureSet {
  features: Float32Array;
  labels: number[];
}

/** Progress of long work; the view layer draws it (terminal bar, live notebook line). */
export interface Progress {
  /** Sets the number of finished items, with an optional note such as "3 skipped". */
  update(done: number, note?: string): void;
  /** The work ended: at `done` items if given (fewer than planned, e.g. early stopping), else at the total. */
  finish(note?: string, done?: number): void;
}

export type ProgressFactory = (label: string, total: number) => Progress;

export const silentProgress: ProgressFactory = () => ({ update: () => undefined, finish: () => undefined });
