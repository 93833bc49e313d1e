/**
 * The notebooks' code cells as TypeScript that the project's tools can check.
 *
 *   tsx scripts/notebook-code.ts            extract: notebooks/.code/NN-name.ts, one file per notebook
 *                                           (cells in order, as the kernel runs them), for tsc and eslint
 *   tsx scripts/notebook-code.ts --check    also fail when a cell is not formatted as Prettier would
 *   tsx scripts/notebook-code.ts --format   format every code cell with Prettier (100 columns), in place
 *
 * tslab compiles each cell on its own but shares top-level names between cells, so one file per
 * notebook type-checks what a user runs top to bottom. Imports of './lib/x' are rewritten to the
 * extracted file's place, so a renamed lib function breaks `npm test`, not a user's session.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as prettier from 'prettier';
import { projectRoot } from '../lib/core/config';

interface Cell {
  cell_type: string;
  source: string[] | string;
}

const notebooksDir = path.join(projectRoot, 'notebooks');
const codeDir = path.join(notebooksDir, '.code');
const mode = process.argv[2] ?? 'extract';

const sourceOf = (cell: Cell) => (Array.isArray(cell.source) ? cell.source.join('') : cell.source);
const linesOf = (text: string) => text.split(/(?<=\n)/);

async function formatCell(source: string): Promise<string> {
  const options = await prettier.resolveConfig(path.join(codeDir, 'cell.ts'));
  const formatted = await prettier.format(source, { ...options, parser: 'typescript', filepath: 'cell.ts' });
  return formatted.replace(/\n$/, '');
}

async function main(): Promise<void> {
  if (!['extract', '--check', '--format'].includes(mode))
    throw new Error(`unknown mode ${mode}; use --check or --format`);
  fs.rmSync(codeDir, { recursive: true, force: true });
  fs.mkdirSync(codeDir, { recursive: true });
  const unformatted: string[] = [];
  for (const name of fs
    .readdirSync(notebooksDir)
    .filter((file) => /^\d\d[a-z]?-.*\.ipynb$/.test(file))
    .sort()) {
    const file = path.join(notebooksDir, name);
    const notebook = JSON.parse(fs.readFileSync(file, 'utf8')) as { cells: Cell[] };
    const cells = notebook.cells.filter((cell) => cell.cell_type === 'code');
    let changed = false;
    for (const [index, cell] of cells.entries()) {
      if (mode === 'extract') break;
      const source = sourceOf(cell);
      const formatted = await formatCell(source);
      if (formatted === source) continue;
      if (mode === '--check') unformatted.push(`${name}, code cell ${index + 1}`);
      else {
        cell.source = linesOf(formatted);
        changed = true;
      }
    }
    if (changed) fs.writeFileSync(file, `${JSON.stringify(notebook, null, 1)}\n`);
    const code = cells
      .map(
        (cell, index) => `// ---- cell ${index + 1}\n${sourceOf(cell).replace(/from '\.\/lib\//g, "from '../lib/")}\n`,
      )
      .join('\n');
    const header = `// Extracted from notebooks/${name} by scripts/notebook-code.ts; do not edit.\nexport {};\n\n`;
    fs.writeFileSync(path.join(codeDir, name.replace(/\.ipynb$/, '.ts')), header + code);
  }
  if (unformatted.length) {
    console.error(`not formatted (run npm run format): ${unformatted.join('; ')}`);
    process.exit(1);
  }
}

main().catch((error) => {
  console.error(`notebook-code: ${(error as Error).message}`);
  process.exit(1);
});
