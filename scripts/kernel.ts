/**
 * The tslab kernel of this checkout: registered in a Jupyter data folder inside the checkout
 * (.jupyter-data/kernels/tslab/kernel.json, pointing at this checkout's node_modules/.bin/tslab),
 * never in the machine-wide folders, so two clones never take the registration from each other.
 * `npm run jupyter`, `npm start` and the tests put that folder first on JUPYTER_PATH.
 *
 * The kernel keeps the name "tslab" and one display name for every checkout, because the notebooks
 * store both (metadata.kernelspec) and Notebook 6 marks a notebook changed when they differ from the
 * kernel's. Which checkout a server runs is which folder JUPYTER_PATH names.
 *
 *   tsx scripts/kernel.ts        register (npm run setup does), print where
 */
import * as fs from 'fs';
import * as path from 'path';
import { projectRoot } from '../lib/core/config';

export const kernelName = 'tslab';
export const kernelDisplayName = 'TypeScript (covid-resnet50)';
/** The checkout's own Jupyter data folder (git-ignored). */
export const jupyterDataDir = path.join(projectRoot, '.jupyter-data');

/** Writes this checkout's kernel.json when missing or different; returns its path. */
export function registerKernel(): string {
  const folder = path.join(jupyterDataDir, 'kernels', kernelName);
  const file = path.join(folder, 'kernel.json');
  const spec = {
    argv: [path.join(projectRoot, 'node_modules', '.bin', 'tslab'), 'kernel', '--config-path', '{connection_file}'],
    display_name: kernelDisplayName,
    language: 'typescript',
    metadata: { checkout: projectRoot },
  };
  const text = `${JSON.stringify(spec, null, 1)}\n`;
  if (!fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== text) {
    fs.mkdirSync(folder, { recursive: true });
    fs.writeFileSync(file, text);
  }
  return file;
}

/** The environment for Jupyter (server or nbclient): this checkout's kernel folder first. */
export function jupyterEnvironment(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  registerKernel();
  const rest = env.JUPYTER_PATH ? `${path.delimiter}${env.JUPYTER_PATH}` : '';
  return { ...env, JUPYTER_PATH: `${jupyterDataDir}${rest}` };
}

if (process.argv[1] && path.resolve(process.argv[1]) === __filename) {
  console.log(`setup: tslab kernel "${kernelDisplayName}" of this checkout: ${registerKernel()}`);
}
