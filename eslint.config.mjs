// Lint for lib/, scripts/, test/ and the notebooks' code cells (extracted to notebooks/.code/ by
// scripts/notebook-code.ts). Formatting is Prettier's job; these rules catch bugs and the tslab traps.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'data/', 'outputs/', 'notebooks/lib/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: ['lib/**/*.ts', 'scripts/**/*.ts'],
    // Prettier wraps code at 120 columns but not strings and comments: split those by hand.
    // Prettier wraps code at 120 but cannot break a string: long messages may run on.
    rules: { 'max-len': ['error', { code: 120, ignoreUrls: true, ignoreStrings: true, ignoreTemplateLiterals: true }] },
  },
  {
    files: ['notebooks/.code/**/*.ts'],
    rules: {
      // tslab 1.0 does not rewrite `{ name }` for a variable from another cell: it throws
      // "name is not defined". Write `{ name: name }` in notebooks.
      'object-shorthand': ['error', 'never'],
      'max-len': ['error', { code: 100, ignoreUrls: true }],
      // Cells define what later cells use.
      '@typescript-eslint/no-unused-vars': 'off',
    },
  },
);
