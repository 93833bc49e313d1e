/** Step 3's product, as commands and later notebooks open it: a saved head on the chosen tfjs backend. */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../core/backend';
import { Config } from '../core/config';
import type { SavedGuard } from '../head/guardStore';
import { loadHead, checkModelFolder, SavedModelInfo } from '../head/modelStore';
import { openGuard } from './safeguards';

export interface OpenedModel {
  folder: string;
  head: tf.LayersModel;
  info: SavedModelInfo;
  /** The out-of-distribution guard; undefined for a model saved before guards existed. */
  guard?: SavedGuard;
  /** One line: the guard in use, or "guard unavailable: ...". */
  guardStatus: string;
}

/** Checks classifier.json and the guard first (fast), then starts tfjs and loads the head. */
export async function openModel(
  folder: string,
  config: Config,
  log: (line: string) => void = console.log,
  info = checkModelFolder(folder),
): Promise<OpenedModel> {
  // The guard is checked before tfjs starts: a damaged guard file fails fast, naming the file.
  const { guard, status } = openGuard(folder, info);
  await initBackend(config.backend, log);
  const { head } = await loadHead(folder);
  return { folder, head, info, guard, guardStatus: status };
}
