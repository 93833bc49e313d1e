/**
 * The unfrozen block's inputs (conv5_block2_out, or conv4_block6_out for the whole stage), computed
 * once per image by the frozen trunk and kept on disk in float16, keyed like the pooled features:
 * sha1 of the image file, weights fingerprint, preprocessing version. Appended batch by batch
 * (RecordFile), so an interrupted run keeps what it computed. A sidecar JSON names what the file
 * holds, and a file made from other weights is refused with its path.
 */
import { interruptible, stopIfInterrupted } from '../core/interrupt';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { writeJsonAtomicSync } from '../core/atomic';
import { ProgressFactory, silentProgress } from '../core/contracts';
import { ModelFileError } from '../core/errors';
import { RecordFile } from '../core/recordFile';
import { absolutePath, DatasetSplit, LabelledImage, SplitName, splitNames } from '../data/dataset';
import { contentHash, preprocessingVersion } from '../backbone/featureCache';
import { preprocessedBatches } from '../backbone/featurePipeline';
import { blockLayout, FinetuneBlock } from './block';
import { decodeHalfInto, encodeHalf } from './half';
import type { Trunk } from './trunk';

interface CacheStamp {
  layer: string;
  weightsFingerprint: string;
  preprocessing: string;
  dtype: 'float16';
  valuesPerImage: number;
}

export class BlockInputCache {
  private constructor(
    private readonly records: RecordFile,
    readonly layer: string,
    readonly shape: [number, number, number],
  ) {}

  get filePath(): string {
    return this.records.filePath;
  }

  get size(): number {
    return this.records.size;
  }

  static fileFor(cacheDir: string, block: FinetuneBlock, weightsFingerprint: string): string {
    const layer = blockLayout[block].input;
    return path.join(cacheDir, `block-inputs-${layer}-${weightsFingerprint}-${preprocessingVersion}-f16.bin`);
  }

  /** Opens the cache file (or `filePath`), refusing one made for another layer, weights or preprocessing. */
  static open(
    cacheDir: string,
    block: FinetuneBlock,
    weightsFingerprint: string,
    filePath = BlockInputCache.fileFor(cacheDir, block, weightsFingerprint),
  ): BlockInputCache {
    const { input: layer, inputShape } = blockLayout[block];
    const valuesPerImage = inputShape[0] * inputShape[1] * inputShape[2];
    const expected: CacheStamp = {
      layer,
      weightsFingerprint,
      preprocessing: preprocessingVersion,
      dtype: 'float16',
      valuesPerImage,
    };
    const stampFile = `${filePath}.json`;
    if (fs.existsSync(stampFile)) {
      let stamp: CacheStamp;
      try {
        stamp = JSON.parse(fs.readFileSync(stampFile, 'utf8')) as CacheStamp;
      } catch (error) {
        throw new ModelFileError(`cannot be read (${(error as Error).message}); delete it and its .bin`, stampFile);
      }
      for (const key of Object.keys(expected) as (keyof CacheStamp)[]) {
        if (stamp[key] !== expected[key]) {
          throw new ModelFileError(
            `holds block inputs made with ${key} ${JSON.stringify(stamp[key])}, not ${JSON.stringify(expected[key])}; ` +
              'delete it (and its .json) to recompute',
            filePath,
          );
        }
      }
    } else {
      fs.mkdirSync(path.dirname(filePath), { recursive: true });
      if (fs.existsSync(filePath) && fs.statSync(filePath).size > 0)
        throw new ModelFileError(
          `has no ${path.basename(stampFile)} saying what it holds; delete it to recompute`,
          filePath,
        );
      writeJsonAtomicSync(stampFile, expected);
    }
    // On demand: the 200 KB records are read from disk per batch, not all held in memory (500 MB).
    return new BlockInputCache(RecordFile.open(filePath, valuesPerImage * 2, { onDemand: true }), layer, inputShape);
  }

  has(hash: string): boolean {
    return this.records.has(hash);
  }

  /** The float16 bytes stored for an image's sha1, read from the file. */
  get(hash: string): Buffer | undefined {
    return this.records.get(hash);
  }

  add(records: { hash: string; values: Float32Array }[]): void {
    this.records.add(
      records.map(({ hash, values }) => {
        const half = encodeHalf(values);
        return { hash, payload: Buffer.from(half.buffer, half.byteOffset, half.byteLength) };
      }),
    );
  }
}

/** One split part: its float16 block inputs (read from the cache file when a batch needs them) and labels. */
export interface BlockInputSet {
  input: (row: number) => Buffer;
  labels: number[];
  images: LabelledImage[];
}

export interface BlockInputsResult {
  sets: Record<SplitName, BlockInputSet>;
  skipped: { file: string; reason: string }[];
  computed: number;
  reused: number;
  seconds: number;
}

export interface BlockInputOptions {
  /** Opened only when some image is not cached yet. */
  openTrunk: () => Promise<Trunk>;
  cache: BlockInputCache;
  batchSize: number;
  progress?: ProgressFactory;
}

/** Block inputs of every image of the split: cached ones reused, the rest computed and appended. */
export function blockInputsForSplit(split: DatasetSplit, options: BlockInputOptions): Promise<BlockInputsResult> {
  return interruptible((signal) => computeBlockInputs(split, options, signal), { finished: 'block-input extraction' });
}

async function computeBlockInputs(
  split: DatasetSplit,
  options: BlockInputOptions,
  signal: AbortSignal,
): Promise<BlockInputsResult> {
  const started = Date.now();
  const { cache } = options;
  const entries = splitNames.flatMap((name) => split[name].map((image) => ({ name, image })));
  const files = entries.map(({ image }) => absolutePath(split.root, image));
  const skipped = new Map<string, string>();
  const hashes = files.map((file) => {
    try {
      return contentHash(file);
    } catch (error) {
      skipped.set(
        file,
        (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message,
      );
      return undefined;
    }
  });
  const seen = new Set<string>();
  const toCompute = files.filter((_, index) => {
    const hash = hashes[index];
    if (hash === undefined || cache.has(hash) || seen.has(hash)) return false;
    seen.add(hash);
    return true;
  });
  const hashOf = new Map(files.map((file, index) => [file, hashes[index]]));
  let trunk: Trunk | undefined;
  const progress = (toCompute.length ? (options.progress ?? silentProgress) : silentProgress)(
    `${cache.layer} (cached once)`,
    toCompute.length,
  );
  let done = 0;
  try {
    for await (const batch of preprocessedBatches(toCompute, { batchSize: options.batchSize })) {
      for (const failure of batch.skipped) skipped.set(failure.file, failure.reason);
      if (batch.count > 0) {
        trunk ??= await options.openTrunk();
        const values = await trunk.blockInputs(batch.input, batch.count);
        const per = trunk.valuesPerImage;
        cache.add(
          batch.files.map((file, row) => ({
            hash: hashOf.get(file)!,
            values: values.subarray(row * per, (row + 1) * per),
          })),
        );
      }
      done += batch.count + batch.skipped.length;
      progress.update(done);
      if (signal.aborted) progress.finish('interrupted', done);
      stopIfInterrupted(
        signal,
        () =>
          `block-input extraction interrupted after ${done} of ${toCompute.length} images; ` +
          `those are kept in the cache (${cache.layer})`,
      );
    }
  } finally {
    await trunk?.dispose();
  }
  progress.finish(skipped.size ? `${skipped.size} skipped` : undefined);
  const parts = Object.fromEntries(
    splitNames.map((name) => [name, { hashes: [] as string[], labels: [] as number[], images: [] as LabelledImage[] }]),
  );
  entries.forEach(({ name, image }, index) => {
    const hash = hashes[index];
    if (hash === undefined || !cache.has(hash)) {
      if (!skipped.has(files[index])) skipped.set(files[index], 'no block input was computed');
      return;
    }
    parts[name].hashes.push(hash);
    parts[name].labels.push(image.label);
    parts[name].images.push(image);
  });
  const sets = Object.fromEntries(
    splitNames.map((name) => {
      const { hashes: rows, labels, images } = parts[name];
      return [name, { input: (row: number) => cache.get(rows[row])!, labels: labels, images: images }];
    }),
  ) as Record<SplitName, BlockInputSet>;
  return {
    sets,
    skipped: [...skipped].map(([file, reason]) => ({ file, reason })),
    computed: toCompute.length - [...skipped.keys()].filter((file) => toCompute.includes(file)).length,
    reused: files.length - skipped.size - toCompute.length,
    seconds: (Date.now() - started) / 1000,
  };
}

/** A float32 batch tensor [n, H, W, C] of some rows of a set (decoded from float16). */
export function batchTensor(set: BlockInputSet, rows: number[], shape: readonly number[]): tf.Tensor4D {
  const per = shape[0] * shape[1] * shape[2];
  const values = new Float32Array(rows.length * per);
  rows.forEach((row, index) => decodeHalfInto(set.input(row), values, index * per));
  return tf.tensor4d(values, [rows.length, shape[0], shape[1], shape[2]]);
}
