/**
 * npm run jupyter: the classic Notebook server in notebooks/, with this checkout's tslab kernel
 * (scripts/kernel.ts) first on JUPYTER_PATH. Extra arguments go to `jupyter notebook`.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { projectRoot } from '../lib/core/config';
import { jupyterEnvironment } from './kernel';

const server = spawnSync('jupyter', ['notebook', '--allow-root', '--no-browser', ...process.argv.slice(2)], {
  cwd: path.join(projectRoot, 'notebooks'),
  env: jupyterEnvironment(),
  stdio: 'inherit',
});
if (server.error) console.error(`jupyter notebook did not start (${server.error.message}); run npm run setup`);
process.exit(server.status ?? 1);
