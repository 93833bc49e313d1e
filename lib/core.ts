/** lib/core: settings, errors, shared contracts, files. */
export * from './core/atomic';
export * from './core/backend';
export * from './core/classes';
export * from './core/config';
export * from './core/contracts';
export * from './core/errors';
export * from './core/interrupt';
export * from './core/paths';
export * from './core/random';
export * from './core/recordFile';
export * from './core/tfjsFiles';
export * from './core/wasmMatMul';
export * from './core/provenance';
export * from './core/preprocessing';
