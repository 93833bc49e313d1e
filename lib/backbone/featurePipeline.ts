/**
 * Decoding overlapped with inference: yields the images as ready-to-run batches while the
 * next ones are being decoded.
 *
 *   for await (const batch of preprocessedBatches(files, { batchSize: 8 })) {
 *     if (batch.count > 0) features = await engine.pooledFeatures(batch.input, batch.count);
 *     // batch.files[i] is the image in row i; batch.skipped lists the unreadable ones
 *   }
 *
 * - Batches come in input order; within a batch, readable files keep their order.
 * - `input` is count x 224 x 224 x 3 caffe-preprocessed NHWC float32 (exactly that length),
 *   a fresh array per batch, so consumers may keep it.
 * - An image that cannot be read is left out of `files`/`input` and listed in `skipped` with the
 *   reason; `count` can then be smaller than the batch, even 0 (skip inference for that batch).
 * - Memory is bounded: at most `prefetch` batches are decoded ahead of the one being consumed
 *   (prefetch 0: none, decoding and inference then alternate).
 *
 * Why this overlaps at all: ONNX Runtime's node binding runs inference synchronously on the
 * main thread, so no new decode can be *started* while it runs. All decodes of the prefetched
 * batches are therefore started at once: sharp runs them on libuv's worker threads, which keep
 * going while the main thread is busy in inference; only the short finishing step (caffe
 * preprocessing into the batch) waits for the main thread.
 */
import { imageSize as modelImageSize } from '../core/contracts';
import { ImageDecodeError } from '../core/errors';
import type { PreprocessingSettings } from '../core/preprocessing';
import { caffePreprocess, loadImageRgb, RgbImage } from '../data/images';

export interface PreprocessedBatch {
  /** The files decoded into `input`, one per row, in input order. */
  files: string[];
  /** count x size x size x 3, caffe-preprocessed (BGR minus the ImageNet mean), NHWC. */
  input: Float32Array;
  count: number;
  /** Files of this batch that could not be read, with a one-line reason. */
  skipped: { file: string; reason: string }[];
}

export interface PipelineOptions {
  /** Images per batch (the last batch may be smaller). */
  batchSize: number;
  /** Batches decoded ahead of the one being consumed; default 2. Memory: about (prefetch + 1) x batchSize x 0.6 MB. */
  prefetch?: number;
  /** Image side; default contracts.imageSize, the one the engines are built for (tests use tiny images). */
  imageSize?: number;
  /** Replaces the decoder (tests): must return size x size RGB bytes. */
  loadImage?: (file: string, size: number) => Promise<RgbImage>;
  /** The shortcut mitigation of config.preprocessing, for the default decoder; none when absent. */
  preprocessing?: PreprocessingSettings;
}

/** Decodes one batch: all its images at once (see the note at the top), then fills the input. */
async function decodeBatch(
  files: string[],
  size: number,
  loadImage: NonNullable<PipelineOptions['loadImage']>,
): Promise<PreprocessedBatch> {
  const outcomes = await Promise.all(
    files.map((file) =>
      loadImage(file, size).then(
        (image) => ({ file, image, reason: undefined }),
        (error: unknown) => ({ file, image: undefined, reason: describeFailure(error) }),
      ),
    ),
  );
  const valuesPerImage = size * size * 3;
  const readable = outcomes.filter((outcome) => outcome.image);
  const input = new Float32Array(readable.length * valuesPerImage);
  readable.forEach((outcome, row) => {
    const rgb = outcome.image!.rgb;
    if (rgb.length !== valuesPerImage)
      throw new Error(`${outcome.file}: decoded to ${rgb.length} bytes, expected ${valuesPerImage}`);
    caffePreprocess(rgb, input, row * valuesPerImage);
  });
  return {
    files: readable.map((outcome) => outcome.file),
    input,
    count: readable.length,
    skipped: outcomes
      .filter((outcome) => !outcome.image)
      .map((outcome) => ({ file: outcome.file, reason: outcome.reason! })),
  };
}

function describeFailure(error: unknown): string {
  // ImageDecodeError messages start with the path, which `skipped` already names.
  if (error instanceof ImageDecodeError && error.path) return error.message.slice(error.path.length + 2);
  return error instanceof Error ? error.message.split('\n')[0] : String(error);
}

/** Yields `files` as preprocessed batches, decoding up to `prefetch` batches ahead (see top of file). */
export async function* preprocessedBatches(
  files: string[],
  options: PipelineOptions,
): AsyncGenerator<PreprocessedBatch> {
  const { batchSize, prefetch = 2, imageSize = modelImageSize, preprocessing } = options;
  const loadImage = options.loadImage ?? ((file: string, size: number) => loadImageRgb(file, size, preprocessing));
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  if (!Number.isInteger(prefetch) || prefetch < 0)
    throw new RangeError(`prefetch must be a non-negative integer, got ${prefetch}`);
  const queue: Promise<PreprocessedBatch>[] = [];
  let next = 0;
  const fill = (limit: number) => {
    while (queue.length < limit && next < files.length) {
      const batch = decodeBatch(files.slice(next, next + batchSize), imageSize, loadImage);
      // Awaited below; this only keeps an early rejection from being reported as unhandled.
      batch.catch(() => undefined);
      queue.push(batch);
      next += batchSize;
    }
  };
  fill(Math.max(prefetch, 1));
  try {
    while (queue.length > 0) {
      const batch = await queue.shift()!;
      // Start the next decodes before handing this batch over, so they run during its inference.
      fill(prefetch);
      yield batch;
      fill(1); // with prefetch 0, the next batch starts only once this one has been consumed
    }
  } finally {
    // A consumer that stops early (an interrupt, an error) waits for the decodes already started,
    // so nothing of this run is still working when it returns.
    await Promise.allSettled(queue);
  }
}
