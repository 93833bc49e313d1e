/** lib/data: step 1, the X-rays: class folders, split, leakage guard, decoding. */
export * from './data/dataset';
export * from './data/files';
export * from './data/images';
export * from './data/preflight';
export * from './data/imageHashing';
export * from './data/duplicates';
export * from './data/crossSplit';
export * from './data/patientIds';
export * from './data/inputChecks';
export * from './data/masks';
export * from './data/mitigations';
