/** Step 3's product, as commands and later notebooks open it: a saved head on the chosen tfjs backend. */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../core/backend';
import { Config } from '../core/config';
import { loadHead, checkModelFolder, SavedModelInfo } from '../head/modelStore';

export interface OpenedModel {
  folder: string;
  head: tf.LayersModel;
  info: SavedModelInfo;
}

/** Checks classifier.json first (fast), then starts tfjs and loads the head. */
export async function openModel(
  folder: string,
  config: Config,
  log: (line: string) => void = console.log,
  info = checkModelFolder(folder),
): Promise<OpenedModel> {
  await initBackend(config.backend, log);
  const { head } = await loadHead(folder);
  return { folder, head, info };
}
