/**
 * Leakage guard: finds exact and near-duplicate images (a copy of a test image in the training
 * set inflates test accuracy) and keeps every duplicate group inside one split. Also reads
 * patient ids, so images of one patient can be kept together by a group-aware split.
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
import * as path from 'path';
import sharp from 'sharp';
import { ImageDecodeError, UserFacingError } from '../core/errors';
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

export interface DuplicateMember extends ImageItem {
  /** dHash as 16 hex digits (a string, so groups stay JSON-serialisable). */
  hash: string;
  sha1: string;
}

export interface DuplicateGroup {
  /** Sorted by path. */
  members: DuplicateMember[];
  /** Largest dHash Hamming distance between any two members (0 for exact copies). */
  maxDistance: number;
  /** Lowest thumbnail correlation between any two members (1 for exact copies). */
  minCorrelation: number;
  /** Every member has the same bytes. */
  exactCopies: boolean;
  /** Members carry more than one split name. */
  crossSplit: boolean;
  /** Members carry more than one label: the same picture with two diagnoses. */
  crossClass: boolean;
}

export interface GroupingOptions {
  /** Largest dHash Hamming distance for a candidate pair (default 6 of 64 bits). */
  threshold?: number;
  /** Smallest thumbnail correlation that confirms a candidate (default 0.99; -1 trusts the hash alone). */
  minCorrelation?: number;
}

export interface DuplicateOptions extends HashOptions, GroupingOptions {}

export interface DuplicateScan {
  groups: DuplicateGroup[];
  skipped: SkippedImage[];
  hashedCount: number;
}

const hashBits = 64;
const thumbnailSize = 32;
export const defaultHammingThreshold = 6;
export const defaultMinCorrelation = 0.99;

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
    sharp(data, { raw }).resize(thumbnailSize, thumbnailSize, { fit: 'fill' }).raw().toBuffer({ resolveWithObject: true }),
  ]);
  return { hash: differenceHash(small.data, small.info.channels), thumbnail: standardise(thumbnailPixels.data, thumbnailPixels.info.channels) };
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
  Buffer.from(signature.thumbnail.buffer, signature.thumbnail.byteOffset, signature.thumbnail.byteLength).copy(payload, 8);
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
    throw new ImageDecodeError(code === 'ENOENT' ? 'file not found' : `cannot be read (${code ?? String(error)})`, filePath);
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
function popcount32(value: number): number {
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
        if (cache && !cached && !computed.some((record) => record.hash === sha1)) computed.push({ hash: sha1, payload: encodeSignature(signature) });
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

/** Union-find over item indices, for grouping linked pairs. */
class DisjointSets {
  private readonly parent: Int32Array;
  constructor(size: number) {
    this.parent = Int32Array.from({ length: size }, (_, i) => i);
  }
  find(index: number): number {
    let root = index;
    while (this.parent[root] !== root) root = this.parent[root];
    while (this.parent[index] !== root) {
      const up = this.parent[index];
      this.parent[index] = root;
      index = up;
    }
    return root;
  }
  union(a: number, b: number): void {
    const rootA = this.find(a);
    const rootB = this.find(b);
    if (rootA !== rootB) this.parent[Math.max(rootA, rootB)] = Math.min(rootA, rootB);
  }
}

function byPath(a: { path: string }, b: { path: string }): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

/**
 * Groups images with identical bytes, or with dHashes within `threshold` bits AND thumbnails
 * correlating >= `minCorrelation`. Linking is transitive (single linkage): A~B and B~C put A, B
 * and C in one group. All pairs are compared (n^2/2 popcounts on two 32-bit halves: 3 million
 * pairs for 2,484 images take about 0.1 s), so no candidate is lost to bucketing.
 */
export function groupDuplicates(hashed: readonly HashedImage[], options: GroupingOptions = {}): DuplicateGroup[] {
  const { threshold = defaultHammingThreshold, minCorrelation = defaultMinCorrelation } = options;
  if (!Number.isInteger(threshold) || threshold < 0 || threshold > hashBits) {
    throw new UserFacingError(`duplicate threshold must be an integer from 0 to ${hashBits} bits, got ${threshold}`);
  }
  if (!(minCorrelation >= -1 && minCorrelation <= 1)) {
    throw new UserFacingError(`minCorrelation must be between -1 and 1, got ${minCorrelation}`);
  }
  const count = hashed.length;
  const high = new Uint32Array(count);
  const low = new Uint32Array(count);
  hashed.forEach((image, i) => {
    high[i] = Number(BigInt.asUintN(32, image.hash >> 32n));
    low[i] = Number(BigInt.asUintN(32, image.hash));
  });
  const sets = new DisjointSets(count);
  const linked = new Uint8Array(count);
  const link = (a: number, b: number) => {
    sets.union(a, b);
    linked[a] = linked[b] = 1;
  };
  const firstWithSha1 = new Map<string, number>();
  hashed.forEach((image, i) => {
    const first = firstWithSha1.get(image.sha1);
    if (first === undefined) firstWithSha1.set(image.sha1, i);
    else link(first, i);
  });
  for (let i = 0; i < count; i++) {
    const highI = high[i];
    const lowI = low[i];
    for (let j = i + 1; j < count; j++) {
      if (popcount32(highI ^ high[j]) + popcount32(lowI ^ low[j]) > threshold) continue;
      if (thumbnailCorrelation(hashed[i].thumbnail, hashed[j].thumbnail) >= minCorrelation) link(i, j);
    }
  }
  const membersByRoot = new Map<number, number[]>();
  for (let i = 0; i < count; i++) {
    if (!linked[i]) continue;
    const root = sets.find(i);
    const members = membersByRoot.get(root);
    if (members) members.push(i);
    else membersByRoot.set(root, [i]);
  }
  const groups = [...membersByRoot.values()].map((indices) => describeGroup(indices.map((i) => hashed[i])));
  return groups.sort((a, b) => byPath(a.members[0], b.members[0]));
}

function describeGroup(images: HashedImage[]): DuplicateGroup {
  let maxDistance = 0;
  let minCorrelation = 1;
  for (let a = 0; a < images.length; a++) {
    for (let b = a + 1; b < images.length; b++) {
      maxDistance = Math.max(maxDistance, hammingDistance(images[a].hash, images[b].hash));
      minCorrelation = Math.min(minCorrelation, thumbnailCorrelation(images[a].thumbnail, images[b].thumbnail));
    }
  }
  const members: DuplicateMember[] = images
    .map(({ path: filePath, split, label, hash, sha1 }) => ({
      path: filePath,
      ...(split !== undefined ? { split } : {}),
      ...(label !== undefined ? { label } : {}),
      hash: hashToHex(hash),
      sha1,
    }))
    .sort(byPath);
  const distinct = (values: (string | number | undefined)[]) => new Set(values.filter((value) => value !== undefined)).size;
  return {
    members,
    maxDistance,
    minCorrelation,
    exactCopies: distinct(members.map((member) => member.sha1)) === 1,
    crossSplit: distinct(members.map((member) => member.split)) > 1,
    crossClass: distinct(members.map((member) => member.label)) > 1,
  };
}

/** Hashes the images (skipping unreadable ones, see hashImages) and groups exact and near duplicates. */
export async function findDuplicates(items: readonly ImageItem[], options: DuplicateOptions = {}): Promise<DuplicateScan> {
  const { hashed, skipped } = await hashImages(items, options);
  return { groups: groupDuplicates(hashed, options), skipped, hashedCount: hashed.length };
}

export interface ResolveOptions<T> {
  /** Splits in the order they keep their images (default test, validation, train). */
  priority?: string[];
  /** The key that matches a group member's `path` (default: item.path, else item.file). */
  keyOf?: (item: T) => string;
}

export interface DroppedDuplicate {
  key: string;
  split: string;
  keptIn: string;
}

export interface ResolvedSplits<T> {
  splits: Record<string, T[]>;
  dropped: DroppedDuplicate[];
  /** One line per dropped image, for the saved split's notes and the report. */
  notes: string[];
}

function defaultKey(item: unknown): string {
  const record = item as { path?: unknown; file?: unknown };
  if (typeof record.path === 'string') return record.path;
  if (typeof record.file === 'string') return record.file;
  throw new UserFacingError('resolveCrossSplitDuplicates: items need a "path" or "file" field, or pass keyOf');
}

/**
 * Makes every duplicate group live in one split. Policy: a group that spans splits keeps its
 * members in the split that comes first in `priority` (test by default) and its members in the
 * other splits are DROPPED, not moved. So the test set keeps exactly its images and its count
 * (nothing is added to it, nothing taken from it) and no training image is a copy of one of them;
 * training loses only the few copies. Duplicates inside a single split are left alone: they are
 * not leakage. Splits missing from `priority` rank after those listed, in their own order.
 */
export function resolveCrossSplitDuplicates<T>(
  splits: Record<string, readonly T[]>,
  groups: readonly DuplicateGroup[],
  options: ResolveOptions<T> = {},
): ResolvedSplits<T> {
  const { priority = ['test', 'validation', 'train'], keyOf = defaultKey } = options;
  const splitNames = Object.keys(splits);
  const rank = (name: string) => {
    const index = priority.indexOf(name);
    return index >= 0 ? index : priority.length + splitNames.indexOf(name);
  };
  const splitOfKey = new Map<string, string>();
  for (const name of splitNames) {
    for (const item of splits[name]) splitOfKey.set(keyOf(item), name);
  }
  const dropKeys = new Map<string, DroppedDuplicate>();
  for (const group of groups) {
    const present = group.members.map((member) => member.path).filter((key) => splitOfKey.has(key));
    const splitsHere = [...new Set(present.map((key) => splitOfKey.get(key) as string))].sort((a, b) => rank(a) - rank(b));
    if (splitsHere.length < 2) continue;
    const keptIn = splitsHere[0];
    for (const key of present) {
      const split = splitOfKey.get(key) as string;
      if (split !== keptIn) dropKeys.set(key, { key, split, keptIn });
    }
  }
  const resolved: Record<string, T[]> = {};
  for (const name of splitNames) resolved[name] = splits[name].filter((item) => !dropKeys.has(keyOf(item)));
  const dropped = [...dropKeys.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const notes = dropped.map((entry) => `dropped ${entry.key} from ${entry.split}: duplicate of an image kept in ${entry.keptIn}`);
  return { splits: resolved, dropped, notes };
}

// ---------------------------------------------------------------------------------------------
// Patient ids
// ---------------------------------------------------------------------------------------------

const fileColumnNames = ['file', 'filename', 'file_name', 'path', 'image', 'image_id', 'imageid', 'image_name'];
const patientColumnNames = ['patient', 'patient_id', 'patientid', 'patient id', 'subject', 'subject_id'];

/** Splits one CSV line, honouring double quotes ("a,b" and "" for a quote); null if a quote is left open. */
function parseCsvLine(line: string): string[] | null {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const character = line[i];
    if (quoted) {
      if (character === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (character === '"') quoted = false;
      else field += character;
    } else if (character === '"') quoted = true;
    else if (character === ',') {
      fields.push(field);
      field = '';
    } else field += character;
  }
  if (quoted) return null;
  fields.push(field);
  return fields.map((value) => value.trim());
}

/**
 * Reads a CSV with a header naming a file column (file, filename, path, image...) and a patient
 * column (patient, patient_id, patientid...). Returns base file name -> patient id (base names,
 * so "COVID/COVID-1.png" and "COVID-1.png" match). Throws UserFacingError naming the csv line for
 * a wrong field count, an empty value, an open quote or a file listed with two patients.
 * Quoted fields may not span lines.
 */
export function readPatientIds(csvPath: string): Map<string, string> {
  let text: string;
  try {
    text = fs.readFileSync(csvPath, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UserFacingError(code === 'ENOENT' ? 'patient id file not found' : `cannot read the patient id file (${code})`, csvPath);
  }
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const header = parseCsvLine(lines[0] ?? '');
  const normalised = (header ?? []).map((name) => name.toLowerCase());
  const fileColumn = normalised.findIndex((name) => fileColumnNames.includes(name));
  const patientColumn = normalised.findIndex((name) => patientColumnNames.includes(name));
  if (!header || fileColumn < 0 || patientColumn < 0) {
    throw new UserFacingError(
      `line 1: header must name a file column (${fileColumnNames.join(', ')}) and a patient column (${patientColumnNames.join(', ')}); got "${lines[0] ?? ''}"`,
      csvPath,
    );
  }
  const patients = new Map<string, string>();
  const lineOfFile = new Map<string, number>();
  for (let index = 1; index < lines.length; index++) {
    const lineNumber = index + 1;
    if (lines[index].trim() === '') continue;
    const fields = parseCsvLine(lines[index]);
    if (!fields) throw new UserFacingError(`line ${lineNumber}: a quoted field is not closed`, csvPath);
    if (fields.length !== header.length) {
      throw new UserFacingError(`line ${lineNumber}: expected ${header.length} fields like the header, found ${fields.length}`, csvPath);
    }
    const file = path.basename(fields[fileColumn].replace(/\\/g, '/'));
    const patient = fields[patientColumn];
    if (!file) throw new UserFacingError(`line ${lineNumber}: empty file name`, csvPath);
    if (!patient) throw new UserFacingError(`line ${lineNumber}: empty patient id for ${file}`, csvPath);
    const earlier = patients.get(file);
    if (earlier !== undefined && earlier !== patient) {
      throw new UserFacingError(
        `line ${lineNumber}: ${file} is listed for patient ${patient} but line ${lineOfFile.get(file)} gives patient ${earlier}`,
        csvPath,
      );
    }
    patients.set(file, patient);
    lineOfFile.set(file, lineNumber);
  }
  if (patients.size === 0) throw new UserFacingError('patient id file lists no images', csvPath);
  return patients;
}

/**
 * Group keys for a group-aware split (e.g. data.ts splitDataset's groupOf): images of one patient
 * and members of one duplicate group share a key, transitively, so a split that keeps keys
 * together prevents leakage instead of repairing it later. Every path gets a key; paths whose
 * base name has no patient id are listed in `withoutPatientId` (when patient ids are given).
 */
export function groupingKeys(
  paths: readonly string[],
  sources: { patientIds?: ReadonlyMap<string, string>; duplicateGroups?: readonly DuplicateGroup[] },
): { keys: Map<string, string>; withoutPatientId: string[] } {
  const indexOfPath = new Map(paths.map((filePath, index) => [filePath, index]));
  const sets = new DisjointSets(paths.length);
  const withoutPatientId: string[] = [];
  if (sources.patientIds) {
    const firstOfPatient = new Map<string, number>();
    paths.forEach((filePath, index) => {
      const patient = sources.patientIds?.get(path.basename(filePath));
      if (patient === undefined) {
        withoutPatientId.push(filePath);
        return;
      }
      const first = firstOfPatient.get(patient);
      if (first === undefined) firstOfPatient.set(patient, index);
      else sets.union(first, index);
    });
  }
  for (const group of sources.duplicateGroups ?? []) {
    const indices = group.members.map((member) => indexOfPath.get(member.path)).filter((index): index is number => index !== undefined);
    for (const index of indices.slice(1)) sets.union(indices[0], index);
  }
  const keys = new Map<string, string>();
  paths.forEach((filePath, index) => keys.set(filePath, `group:${paths[sets.find(index)]}`));
  return { keys, withoutPatientId };
}
