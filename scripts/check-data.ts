/**
 * The data preflight on its own (npm run setup ends with it): exit 0 with one line when the data
 * folder (CXR_DATA_DIR, default ../shared/cxr) holds at least two classes of images, otherwise the
 * paragraph on where we looked and how to get the X-rays, and exit 1.
 */
import { articleDefaults, loadConfig } from '../lib/core/config';
import { describeError } from '../lib/core/errors';
import { checkDataFolder, dataFolderHelp } from '../lib/data/preflight';

try {
  const check = checkDataFolder(loadConfig().dataDir);
  if (check.ok) {
    console.log(`setup: data folder ${check.dataDir}: ${check.summary}`);
  } else {
    console.error(dataFolderHelp(check, articleDefaults.dataDir));
    process.exitCode = 1;
  }
} catch (error) {
  console.error(describeError(error));
  process.exitCode = 1;
}
