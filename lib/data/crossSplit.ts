/** Leakage guard, part 3: keeps every duplicate group inside one split. */
import { UserFacingError } from '../core/errors';
import { DuplicateGroup } from './duplicates';

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
    const splitsHere = [...new Set(present.map((key) => splitOfKey.get(key) as string))].sort(
      (a, b) => rank(a) - rank(b),
    );
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
  const notes = dropped.map(
    (entry) => `dropped ${entry.key} from ${entry.split}: duplicate of an image kept in ` + `${entry.keptIn}`,
  );
  return { splits: resolved, dropped, notes };
}
