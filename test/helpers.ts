/** Shared test fixtures: the real X-ray folder, the real weights and the tfjs backend. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initBackend } from '../lib/core/backend';
import { articleDefaults } from '../lib/core/config';
import { ensureWeights, WeightsPaths } from '../lib/backbone/weights';

export const cxrDir = process.env.CXR_DATA_DIR ? path.resolve(process.env.CXR_DATA_DIR) : articleDefaults.dataDir;

/** Debian's darknet package ships real sample photos (eagle, dog, ...). */
export const samplePhotoDirs = ['/usr/share/darknet/data', path.join(articleDefaults.weightsDir, '..', 'samples')];

export function samplePhoto(name: string): string | undefined {
  return samplePhotoDirs.map((dir) => path.join(dir, name)).find((file) => fs.existsSync(file));
}

let weights: Promise<WeightsPaths> | undefined;
export function realWeights(): Promise<WeightsPaths> {
  weights ??= ensureWeights(articleDefaults.weightsDir, () => undefined);
  return weights;
}

export async function tfReady(): Promise<void> {
  await initBackend(undefined, () => undefined);
}

export function temporaryFolder(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
}

/** A few real X-rays of each class, always the same ones. */
export function someXrays(perClass: number): { file: string; label: number }[] {
  return ['COVID', 'NORMAL'].flatMap((className, label) =>
    fs
      .readdirSync(path.join(cxrDir, className))
      .sort()
      .slice(0, perClass)
      .map((name) => ({ file: path.join(cxrDir, className, name), label })),
  );
}
