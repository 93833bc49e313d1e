/** lib/pipeline: one function per step, shared by notebooks and command-line tools. */
export * from './pipeline/backbone';
export * from './pipeline/evaluate';
export * from './pipeline/model';
export * from './pipeline/report';
export * from './pipeline/split';
export * from './pipeline/train';
export * from './pipeline/audit';
export * from './pipeline/explain';
export * from './pipeline/explainRun';
