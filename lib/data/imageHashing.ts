/**
 * Leakage guard, part 1: the signature of each image that duplicate detection compares
 * (duplicates.ts groups them, crossSplit.ts keeps each group in one split, patientIds.ts reads
 * patient ids for a group-aware split).
 *
 * Two stages, because a 64-bit hash alone cannot tell chest X-rays apart: they share one layout
 * (measured on the 2,484 images of shared/cxr: 19 pairs of different patients have IDENTICAL
 * 64-bit dHashes, 9 of them COVID vs NORMAL, and linking pairs within 4 bits chains 1,350
 * images into one group).
 * 1. Candidates: 64-bit difference hash (dHash: greyscale, resize to 9x8, one bit per pair of
 *    horizontally adjacent pixels, 1 when the right one is brighter) within `threshold` bits,
 *    plus identical bytes (sha1).
 * 2. Confirmation: Pearson correlation of 32x32 greyscale thumbnails >= `minCorrelation`.
 *    Measured: re-encoded (JPEG q75, PNG), brightened, contrast-stretched, blurred or resized
 *    copies correlate >= 0.998 with their original; the most similar pair of different images
 *    in shared/cxr correlates 0.969. Crops and rotations are not detected.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import sharp from 'sharp';
import { ImageDecodeError } from '../core/errors';
import { RecordFile } from '../core/recordFile';

export interface ImageItem {
  path: string;
  /** Split name ('train', 'validation', 'test'), when the data are already split. */
  split?: string;
  label?: number;
}

export interface HashedImage extends ImageItem {
  /** 64-bit dHash. */
  hash: bigint;
  /** sha1 of the file bytes, for exact copies. */
  sha1: string;
  /** 32x32 greyscale thumbnail, zero mean and unit variance (all zeros for a flat image). */
  thumbnail: Float32Array;
}

export interface SkippedImage {
  path: string;
  reason: string;
}

export type ProgressCallback = (done: number, total: number) => void;

export interface HashOptions {
  /** Called after each image, including skipped ones. */
  onProgress?: ProgressCallback;
  /** Images decoded at once (default 4). */
  concurrency?: number;
  /**
   * Optional file that keeps each image's signature by content (sha1), so a later scan of the same
   * images only reads and hashes the files instead of decoding them again.
   */
  signatureCacheFile?: string;
}

export const hashBits = 64;
const thumbnailSize = 32;

interface ImageSignature {
  hash: bigint;
  thumbnail: Float32Array;
}

/** One decode, then the 9x8 dHash and the 32x32 thumbnail from the same greyscale pixels. */
async function imageSignature(image: Buffer): Promise<ImageSignature> {
  const { data, info } = await sharp(image, { failOn: 'error', limitInputPixels: 100_000_000 })
    .removeAlpha()
    .greyscale()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const raw = { width: info.width, height: info.height, channels: info.channels };
  const [small, thumbnailPixels] = await Promise.all([
    sharp(data, { raw }).resize(9, 8, { fit: 'fill' }).raw().toBuffer({ resolveWithObject: true }),
    sharp(data, { raw })
      .resize(thumbnailSize, thumbnailSize, { fit: 'fill' })
      .raw()
      .toBuffer({ resolveWithObject: true }),
  ]);
  return {
    hash: differenceHash(small.data, small.info.channels),
    thumbnail: standardise(thumbnailPixels.data, thumbnailPixels.info.channels),
  };
}

/** Packs the 64 left/right comparisons of a 9x8 image, row by row, first bit highest. */
function differenceHash(pixels: Buffer, channels: number): bigint {
  let hash = 0n;
  for (let y = 0; y < 8; y++) {
    for (let x = 0; x < 8; x++) {
      const left = pixels[(y * 9 + x) * channels];
      const right = pixels[(y * 9 + x + 1) * channels];
      hash = (hash << 1n) | (right > left ? 1n : 0n);
    }
  }
  return hash;
}

/** Zero mean, unit variance, so correlation ignores brightness and contrast changes. */
function standardise(pixels: Buffer, channels: number): Float32Array {
  const count = thumbnailSize * thumbnailSize;
  const values = new Float32Array(count);
  let sum = 0;
  for (let i = 0; i < count; i++) sum += values[i] = pixels[i * channels];
  const mean = sum / count;
  let squares = 0;
  for (let i = 0; i < count; i++) squares += (values[i] - mean) ** 2;
  const deviation = Math.sqrt(squares / count);
  for (let i = 0; i < count; i++) values[i] = deviation > 1e-6 ? (values[i] - mean) / deviation : 0;
  return values;
}

/** Pearson correlation of two standardised thumbnails; two flat images count as identical (1). */
export function thumbnailCorrelation(a: Float32Array, b: Float32Array): number {
  let product = 0;
  let normA = 0;
  let normB = 0;
  for (let i = 0; i < a.length; i++) {
    product += a[i] * b[i];
    normA += a[i] * a[i];
    normB += b[i] * b[i];
  }
  if (normA === 0 || normB === 0) return normA === normB ? 1 : 0;
  return product / Math.sqrt(normA * normB);
}

/** Stored signature: the dHash (8 bytes, little-endian) then the thumbnail's floats. */
const signatureBytes = 8 + thumbnailSize * thumbnailSize * 4;

function encodeSignature(signature: ImageSignature): Buffer {
  const payload = Buffer.alloc(signatureBytes);
  payload.writeBigUInt64LE(BigInt.asUintN(hashBits, signature.hash), 0);
  Buffer.from(signature.thumbnail.buffer, signature.thumbnail.byteOffset, signature.thumbnail.byteLength).copy(
    payload,
    8,
  );
  return payload;
}

function decodeSignature(payload: Buffer): ImageSignature {
  const thumbnail = new Float32Array(thumbnailSize * thumbnailSize);
  thumbnail.set(new Float32Array(payload.buffer.slice(payload.byteOffset + 8, payload.byteOffset + signatureBytes)));
  return { hash: payload.readBigUInt64LE(0), thumbnail };
}

function readImageFile(filePath: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(filePath);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ImageDecodeError(
      code === 'ENOENT' ? 'file not found' : `cannot be read ` + `(${code ?? String(error)})`,
      filePath,
    );
  }
  if (bytes.length === 0) throw new ImageDecodeError('is an empty (zero-byte) file', filePath);
  return bytes;
}

async function signatureOf(filePath: string, bytes: Buffer): Promise<ImageSignature> {
  try {
    return await imageSignature(bytes);
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new ImageDecodeError(`cannot be read as an image (${message})`, filePath);
  }
}

/** 64-bit dHash of one image file; throws ImageDecodeError naming the file if it cannot be decoded. */
export async function perceptualHash(filePath: string): Promise<bigint> {
  return (await signatureOf(filePath, readImageFile(filePath))).hash;
}

/** Number of differing bits between two 64-bit hashes. */
export function hammingDistance(a: bigint, b: bigint): number {
  const difference = BigInt.asUintN(hashBits, a ^ b);
  return popcount32(Number(difference >> 32n)) + popcount32(Number(BigInt.asUintN(32, difference)));
}

/** Set bits of a 32-bit integer (SWAR: no BigInt in the n^2 loop). */
export function popcount32(value: number): number {
  let v = value - ((value >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}

export function hashToHex(hash: bigint): string {
  return BigInt.asUintN(hashBits, hash).toString(16).padStart(16, '0');
}

/**
 * Hashes every image (dHash, thumbnail, sha1). Files that cannot be read or decoded are skipped
 * and listed with the reason instead of stopping a scan of thousands of images.
 */
export async function hashImages(
  items: readonly ImageItem[],
  options: HashOptions = {},
): Promise<{ hashed: HashedImage[]; skipped: SkippedImage[] }> {
  const { onProgress, concurrency = 4 } = options;
  const cache = options.signatureCacheFile ? RecordFile.open(options.signatureCacheFile, signatureBytes) : undefined;
  const computed: { hash: string; payload: Buffer }[] = [];
  const results: (HashedImage | SkippedImage)[] = new Array(items.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      const item = items[index];
      try {
        const bytes = readImageFile(item.path);
        const sha1 = createHash('sha1').update(bytes).digest('hex');
        const cached = cache?.get(sha1);
        const signature = cached ? decodeSignature(cached) : await signatureOf(item.path, bytes);
        // Two copies decoded at once are stored once.
        if (cache && !cached && !computed.some((record) => record.hash === sha1))
          computed.push({ hash: sha1, payload: encodeSignature(signature) });
        if (computed.length >= 256) cache?.add(computed.splice(0));
        results[index] = { ...item, ...signature, sha1 };
      } catch (error) {
        // ImageDecodeError messages start with the path; the skipped entry already has it.
        const message = error instanceof Error ? error.message : String(error);
        const reason = message.startsWith(`${item.path}: `) ? message.slice(item.path.length + 2) : message;
        results[index] = { path: item.path, reason };
      }
      done++;
      onProgress?.(done, items.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  cache?.add(computed);
  const hashed: HashedImage[] = [];
  const skipped: SkippedImage[] = [];
  for (const result of results) {
    if ('reason' in result) skipped.push(result);
    else hashed.push(result);
  }
  return { hashed, skipped };
}
