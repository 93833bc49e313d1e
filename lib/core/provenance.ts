/**
 * Where an artifact came from: which saved model and which split. Later steps compare these stamps
 * with what is on disk now, so an output left over from an older model or split is said, not shown
 * as current (lib/pipeline/freshness.ts).
 */
import { createHash } from 'crypto';
import * as fs from 'fs';

/**
 * A short digest of a file's bytes (the saved split.json): the same split, re-made with the same
 * settings, gives the same digest; any change to which image is in which part gives another.
 * Undefined when the file does not exist.
 */
export function fileDigest(file: string): string | undefined {
  if (!fs.existsSync(file)) return undefined;
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex').slice(0, 16);
}

/** What an artifact records about the model it came from (metrics.json, explanations.json). */
export interface ModelStamp {
  /** classifier.json's trainedAt: which training of the model. */
  trainedAt: string;
  /** fileDigest of the split.json the model was trained on; absent for models saved before stamps. */
  split?: string;
}
