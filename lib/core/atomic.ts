/**
 * Atomic file writes for models, caches and reports: the data goes to a temporary file in
 * the same folder, is flushed to disk (fsync), then renamed over the target. A rename within
 * one folder is atomic on POSIX file systems, so a run killed half-way leaves either the old
 * file or the new one, never a truncated mix.
 */
import * as fs from 'fs';
import * as path from 'path';
import { randomBytes } from 'crypto';
import { UserFacingError } from './errors';

export type FileData = string | Uint8Array;

/** A temp name next to the target (same folder = same file system, so rename stays atomic). */
function temporaryPathFor(targetPath: string): string {
  const folder = path.dirname(targetPath);
  const base = path.basename(targetPath);
  return path.join(folder, `.${base}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

function describeWriteFailure(targetPath: string, error: unknown): UserFacingError {
  const reason = error instanceof Error ? error.message : String(error);
  return new UserFacingError(`could not write the file atomically (${reason})`, targetPath);
}

/** Flushes the folder entry too, so the rename itself survives a power cut; best effort. */
async function syncFolder(folder: string): Promise<void> {
  let handle: fs.promises.FileHandle | undefined;
  try {
    handle = await fs.promises.open(folder, 'r');
    await handle.sync();
  } catch {
    // Some file systems refuse fsync on folders; the rename has still happened.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/**
 * Writes `data` to `targetPath` atomically, creating the parent folder if needed.
 * Throws UserFacingError naming the path when the write fails; the temp file is removed.
 */
export async function writeFileAtomic(targetPath: string, data: FileData): Promise<void> {
  const folder = path.dirname(path.resolve(targetPath));
  const temporaryPath = temporaryPathFor(path.resolve(targetPath));
  try {
    await fs.promises.mkdir(folder, { recursive: true });
    const handle = await fs.promises.open(temporaryPath, 'w');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.promises.rename(temporaryPath, targetPath);
  } catch (error) {
    await fs.promises.rm(temporaryPath, { force: true }).catch(() => undefined);
    throw describeWriteFailure(targetPath, error);
  }
  await syncFolder(folder);
}

/** Synchronous twin of writeFileAtomic, for exit handlers and other places that cannot await. */
export function writeFileAtomicSync(targetPath: string, data: FileData): void {
  const folder = path.dirname(path.resolve(targetPath));
  const temporaryPath = temporaryPathFor(path.resolve(targetPath));
  try {
    fs.mkdirSync(folder, { recursive: true });
    const descriptor = fs.openSync(temporaryPath, 'w');
    try {
      fs.writeFileSync(descriptor, data);
      fs.fsyncSync(descriptor);
    } finally {
      fs.closeSync(descriptor);
    }
    fs.renameSync(temporaryPath, targetPath);
  } catch (error) {
    fs.rmSync(temporaryPath, { force: true });
    throw describeWriteFailure(targetPath, error);
  }
}

/**
 * Pretty-printed JSON text for `value`. JSON has no NaN or Infinity: JSON.stringify writes
 * them as null (undefined metrics read back as null). BigInt and cycles are refused here,
 * with the path in the message, before anything touches the disk.
 */
function toJsonText(targetPath: string, value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value, null, 2);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new UserFacingError(`value cannot be written as JSON (${reason})`, targetPath);
  }
  if (text === undefined)
    throw new UserFacingError('value cannot be written as JSON (undefined or a function)', targetPath);
  return text + '\n';
}

/** Writes `value` as pretty JSON atomically (see toJsonText for NaN and Infinity). */
export async function writeJsonAtomic(targetPath: string, value: unknown): Promise<void> {
  await writeFileAtomic(targetPath, toJsonText(targetPath, value));
}

/** Synchronous twin of writeJsonAtomic. */
export function writeJsonAtomicSync(targetPath: string, value: unknown): void {
  writeFileAtomicSync(targetPath, toJsonText(targetPath, value));
}
