/**
 * The data preflight: before `npm start` or `npm run setup` begins anything long, check that the data
 * folder holds at least two class folders with images, and otherwise say in one paragraph where we
 * looked, how to point elsewhere and how to get the X-rays (they are not in the repository).
 */
import { DatasetError } from '../core/errors';
import { scanDataset } from './dataset';

export interface DataCheck {
  ok: boolean;
  /** The folder that was checked (absolute). */
  dataDir: string;
  /** "2484 images in 2 classes (COVID 1143, NORMAL 1341)" or the problem found. */
  summary: string;
}

/** Scans the folder as notebook 01 will; never throws for a folder that cannot be used. */
export function checkDataFolder(dataDir: string): DataCheck {
  try {
    const dataset = scanDataset(dataDir);
    const counts = dataset.classNames.map(
      (name, label) => `${name} ${dataset.images.filter((image) => image.label === label).length}`,
    );
    return {
      ok: true,
      dataDir: dataset.root,
      summary: `${dataset.images.length} images in ${dataset.classNames.length} classes (${counts.join(', ')})`,
    };
  } catch (error) {
    if (!(error instanceof DatasetError)) throw error;
    return { ok: false, dataDir, summary: error.message };
  }
}

/** The paragraph for a data folder that cannot be used: the problem, where we looked, what to do. */
export function dataFolderHelp(check: DataCheck, defaultDataDir: string): string {
  const where =
    check.dataDir === defaultDataDir
      ? `the default data folder, ${check.dataDir} (../shared/cxr beside this checkout)`
      : `${check.dataDir} (from CXR_DATA_DIR)`;
  return [
    `No usable chest X-rays: ${check.summary}.`,
    `Looked in ${where}. The data is not part of the repository.`,
    'Point CXR_DATA_DIR at a folder with one sub-folder of PNG or JPEG images per class,',
    'for example: CXR_DATA_DIR=/path/to/COVID-19_Radiography_Dataset npm start',
    'To get the data: download the "COVID-19 Radiography Database" from Kaggle, unzip it, and keep',
    'only the class folders you want (e.g. COVID/ and Normal/, images directly inside; move the',
    'masks/ sub-folders and the other classes out). README.md, section "The data", has the details.',
  ].join('\n');
}
