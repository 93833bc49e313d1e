/**
 * `npm start` as a new user meets it: scripts/run-notebooks.ts run as a child process, on the real
 * tslab kernel, with a data folder that is missing, empty or has one class (the data preflight), and
 * with notebooks whose cells fail (an unexpected error, and a DatasetError from the project's code).
 */
import { strict as assert } from 'assert';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { projectRoot } from '../lib/core/config';
import { DatasetError } from '../lib/core/errors';
import { inspect } from 'util';
import { withNotebookPageLinks } from '../lib/view/notebookPages';
import { errorLines, errorText } from '../scripts/notebook-failure';
import { someXrays, temporaryFolder } from './helpers';

interface Run {
  code: number | null;
  output: string;
}

function runNotebooks(env: Record<string, string>, args: string[] = []): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      path.join(projectRoot, 'node_modules', '.bin', 'tsx'),
      [path.join(projectRoot, 'scripts', 'run-notebooks.ts'), ...args],
      {
        cwd: projectRoot,
        env: { ...process.env, NOTEBOOK_TIMEOUT_SECONDS: '60', CXR_SUBSET_PER_CLASS: '', ...env },
      },
    );
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

function notebook(cells: string[]): string {
  return JSON.stringify({
    cells: cells.map((source) => ({ cell_type: 'code', metadata: {}, source, outputs: [], execution_count: null })),
    metadata: { kernelspec: { display_name: 'TypeScript', language: 'typescript', name: 'tslab' } },
    nbformat: 4,
    nbformat_minor: 5,
  });
}

/** The cells of an executed notebook: [execution count, all text the cell wrote]. */
function executedCells(file: string): [number | null, string][] {
  const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as {
    cells: { execution_count: number | null; outputs: { text?: string | string[] }[] }[];
  };
  return parsed.cells.map((cell) => [
    cell.execution_count,
    cell.outputs.map((output) => [output.text ?? ''].flat().join('')).join(''),
  ]);
}

describe('npm start: first contact (scripts/run-notebooks.ts)', function () {
  this.timeout(120_000);
  const outputs = temporaryFolder('run-notebooks-outputs');
  const environment = { CXR_OUTPUTS_DIR: outputs, CXR_CACHE_DIR: path.join(outputs, 'cache') };
  after(() => fs.rmSync(outputs, { recursive: true, force: true }));

  describe('the data preflight stops before any notebook runs', () => {
    const cases: [string, () => string, RegExp][] = [
      ['a missing data folder', () => path.join(outputs, 'no-such-folder'), /data folder not found/],
      ['an empty data folder', () => fs.mkdtempSync(path.join(outputs, 'cxr-empty-')), /has no class sub-folders/],
      [
        'a data folder with one class only',
        () => {
          const folder = fs.mkdtempSync(path.join(outputs, 'cxr-one-class-'));
          fs.mkdirSync(path.join(folder, 'COVID'));
          fs.copyFileSync(someXrays(1)[0].file, path.join(folder, 'COVID', 'one.png'));
          return folder;
        },
        /has only one class folder \(COVID\); a classifier needs at least two/,
      ],
    ];
    for (const [what, makeFolder, problem] of cases) {
      it(`${what}: where it looked, the problem, how to get the data; exit 1`, async () => {
        const folder = makeFolder();
        const { code, output } = await runNotebooks({ ...environment, CXR_DATA_DIR: folder });
        assert.equal(code, 1, output);
        assert.match(output, problem);
        assert.ok(output.includes(`Looked in ${folder} (from CXR_DATA_DIR)`), output);
        assert.match(output, /Point CXR_DATA_DIR at a folder/);
        assert.match(output, /"COVID-19 Radiography Database" from Kaggle/);
        // Every notebook npm start would run: all of notebooks/ (06-finetune too, unless CXR_FINETUNE=0).
        const planned = fs
          .readdirSync(path.join(projectRoot, 'notebooks'))
          .filter((name) => /^\d\d[a-z]?-.*\.ipynb$/.test(name));
        assert.ok(output.includes(`notebooks: none run (${planned.length} skipped)`), output);
        assert.ok(output.split('\n').length <= 12, `a few lines, not ${output.split('\n').length}`);
        assert.ok(!fs.existsSync(path.join(outputs, 'notebooks')), 'no notebook ran');
      });
    }
  });

  describe('a failing cell', () => {
    const notebooksDir = temporaryFolder('run-notebooks-notebooks');
    const data = temporaryFolder('cxr-small');
    after(() => {
      for (const folder of [notebooksDir, data]) fs.rmSync(folder, { recursive: true, force: true });
    });
    before(() => {
      // tslab resolves './lib/...' and packages from the notebook's folder, as in notebooks/.
      fs.symlinkSync(path.join(projectRoot, 'lib'), path.join(notebooksDir, 'lib'));
      fs.symlinkSync(path.join(projectRoot, 'node_modules'), path.join(notebooksDir, 'node_modules'));
      for (const [index, image] of someXrays(2).entries()) {
        const classFolder = path.join(data, image.label === 0 ? 'COVID' : 'NORMAL');
        fs.mkdirSync(classFolder, { recursive: true });
        fs.copyFileSync(image.file, path.join(classFolder, `${index}.png`));
      }
      const write = (name: string, cells: string[]) => fs.writeFileSync(path.join(notebooksDir, name), notebook(cells));
      write('01-unexpected.ipynb', [
        "console.log('first cell ran');",
        "function parseDose(text: string) {\n  throw new Error(`no dose in '${text}'`);\n}\nparseDose('abc');",
        "console.log('never');",
      ]);
      write('02-project-error.ipynb', ["import { scanDataset } from './lib/data';\nscanDataset('/no/such/xrays');"]);
      write('03-later.ipynb', ["console.log('later');"]);
    });

    it('an unexpected error: the notebook, the cell, the error with its stack (no tslab frames); later notebooks skipped; the executed copy kept', async () => {
      const { code, output } = await runNotebooks({
        ...environment,
        CXR_DATA_DIR: data,
        CXR_NOTEBOOKS_DIR: notebooksDir,
      });
      assert.equal(code, 1, output);
      assert.match(output, /01-unexpected\.ipynb \.\.\. FAILED/);
      assert.match(output, /01-unexpected\.ipynb: code cell 2 \(In \[2\]\) failed:/);
      assert.match(output, /function parseDose\(text: string\) \{/);
      assert.match(output, /Error: no dose in 'abc'/);
      assert.match(output, /at parseDose/, 'an unexpected error keeps its stack');
      assert.doesNotMatch(output, /node_modules\/tslab|node:vm|<Error>|Traceback|nbclient/);
      assert.match(output, /skipped after the failure: 02-project-error\.ipynb, 03-later\.ipynb/);
      assert.match(output, /notebooks: 0 passed, 1 failed, 2 skipped/);
      const copy = path.join(outputs, 'notebooks', '01-unexpected.ipynb');
      assert.ok(output.includes(`with the error in place: ${copy}`), output);
      const cells = executedCells(copy);
      assert.deepEqual(cells[0], [1, 'first cell ran\n']);
      assert.equal(cells[1][0], 2);
      assert.match(cells[1][1], /Error: no dose in 'abc'/);
      assert.deepEqual(cells[2], [null, ''], 'the cell after the error did not run');
      assert.ok(!fs.existsSync(path.join(outputs, 'notebooks', '03-later.ipynb')));
      // The readable page: self-contained, no scripts (Debian's template loads two from file://).
      const page = fs.readFileSync(path.join(outputs, 'notebooks', '01-unexpected.html'), 'utf8');
      assert.match(page, /no dose in &#39;abc&#39;|no dose in 'abc'/);
      assert.doesNotMatch(page, /<script|file:\/\//);
      // nbclient stores the kernel's own language_info: the project's notebooks must say the same, or
      // Jupyter marks them "unsaved changes" as soon as they open.
      const languageInfo = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8')).metadata.language_info;
      const kernelSays = languageInfo(copy);
      assert.equal(kernelSays.name, 'typescript');
      for (const name of fs
        .readdirSync(path.join(projectRoot, 'notebooks'))
        .filter((file) => file.endsWith('.ipynb'))) {
        assert.deepEqual(languageInfo(path.join(projectRoot, 'notebooks', name)), kernelSays, name);
      }
    });

    it("the project's own error (DatasetError): one line with its name, no stack trace, in the terminal and in the notebook", async () => {
      const { code, output } = await runNotebooks(
        { ...environment, CXR_DATA_DIR: data, CXR_NOTEBOOKS_DIR: notebooksDir },
        ['02'],
      );
      assert.equal(code, 1, output);
      const message = 'DatasetError: /no/such/xrays: data folder not found';
      assert.match(output, new RegExp(`\\n {4}${message}`));
      assert.doesNotMatch(output, /^\s+at /m);
      assert.doesNotMatch(output, /\{ path:|\[DatasetError/);
      const [[count, text]] = executedCells(path.join(outputs, 'notebooks', '02-project-error.ipynb'));
      assert.equal(count, 1);
      assert.equal(text.trim().split('\n').length, 1, text);
      assert.ok(text.startsWith(message), text);
    });
  });
});

describe('report.html links the notebook pages', () => {
  it('adds one section before </main>, and replaces it on the next run', () => {
    const report = '<html><body><main><h1>Report</h1></main></body></html>';
    const once = withNotebookPageLinks(report, [{ title: '01-data', href: 'notebooks/01-data.html' }]);
    assert.match(once, /<a href="notebooks\/01-data\.html">01-data<\/a><\/li><\/ul><!-- \/notebook-pages --><\/main>/);
    const twice = withNotebookPageLinks(once, [{ title: '05-gradcam', href: 'notebooks/05-gradcam.html' }]);
    assert.equal((twice.match(/The executed notebooks/g) ?? []).length, 1);
    assert.ok(!twice.includes('01-data') && twice.includes('05-gradcam'));
    assert.equal(withNotebookPageLinks(twice, []), report);
  });
});

describe('notebook failures: the error text', () => {
  it('UserFacingError prints (util.inspect, as tslab does) as its name and message only', () => {
    const error = new DatasetError('data folder not found', '/x');
    assert.equal(inspect(error), 'DatasetError: /x: data folder not found');
    assert.equal(inspect(new Error('other')).split('\n')[0], 'Error: other');
    assert.ok(inspect(new Error('other')).includes('    at '), 'unexpected errors keep their stack');
  });

  it("drops tslab's and Node's frames, keeps the code's, and shortens long traces", () => {
    const stderr = [
      'Error: deep',
      ...Array.from({ length: 8 }, (_, index) => `    at level${index} (evalmachine.<anonymous>:${index}:1)`),
      '    at sigintHandlersWrap (node:vm:280:12)',
      '    at Object.execute (/x/node_modules/tslab/dist/executor.js:160:38)',
      '',
    ].join('\n');
    assert.deepEqual(errorLines(stderr), [
      'Error: deep',
      '    at level0 (evalmachine.<anonymous>:0:1)',
      '    at level1 (evalmachine.<anonymous>:1:1)',
      '    at level2 (evalmachine.<anonymous>:2:1)',
      '    at level3 (evalmachine.<anonymous>:3:1)',
      '    at level4 (evalmachine.<anonymous>:4:1)',
      '    ... 3 more frames',
    ]);
  });

  it("falls back to the kernel's reply, and says so when there is nothing", () => {
    assert.equal(errorText({ status: 'error', stderr: '', ename: 'TypeError', evalue: 'x' }), 'TypeError: x');
    assert.match(errorText({ status: 'error', stderr: '', ename: '<Error>', evalue: '' }), /without an error message/);
    assert.equal(errorText({ status: 'timeout', message: 'Cell execution timed out' }), 'Cell execution timed out');
  });
});
