/** Step 3's product, as commands and later notebooks open it: a saved head on the chosen tfjs backend. */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../core/backend';
import { Config } from '../core/config';
import { describePreprocessing, preprocessingName } from '../core/preprocessing';
import { UserFacingError } from '../core/errors';
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
  checkModelPreprocessing(folder, info, config);
  // The guard is checked before tfjs starts: a damaged guard file fails fast, naming the file.
  const { guard, status } = openGuard(folder, info);
  await initBackend(config.backend, log);
  const { head } = await loadHead(folder);
  return { folder, head, info, guard, guardStatus: status };
}

/**
 * A model sees images only through the preprocessing it was trained with: another one (a shortcut
 * mitigation switched on or off since notebook 03) is refused, saying what to set.
 */
function checkModelPreprocessing(folder: string, info: SavedModelInfo, config: Config): void {
  const wanted = preprocessingName(config.preprocessing);
  if (info.preprocessing === wanted) return;
  const trained = info.preprocessingSettings
    ? `${describePreprocessing(info.preprocessingSettings)} ("${info.preprocessing}")`
    : `"${info.preprocessing}"`;
  const fix = info.preprocessingSettings
    ? `set preprocessing: { mitigation: '${info.preprocessingSettings.mitigation}' } in the config ` +
      `(CXR_MITIGATION=${info.preprocessingSettings.mitigation}) with the same parameters, or retrain (notebooks 02-03)`
    : 'retrain it (notebooks 02-03) with this preprocessing';
  throw new UserFacingError(
    `the model was trained with preprocessing ${trained}, but the config asks for ` +
      `${describePreprocessing(config.preprocessing)} ("${wanted}"): its predictions would mean nothing; ${fix}`,
    folder,
  );
}

/**
 * Commands use the preprocessing the model was trained with, unless CXR_MITIGATION asks for
 * another one (which openModel then refuses, saying why).
 */
export function withModelPreprocessing(config: Config, info: SavedModelInfo, env = process.env): Config {
  if (env.CXR_MITIGATION || !info.preprocessingSettings) return config;
  return { ...config, preprocessing: { ...config.preprocessing, ...info.preprocessingSettings } };
}
