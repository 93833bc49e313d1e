/** lib/pipeline: one function per step, shared by notebooks and command-line tools. */
export * from './pipeline/backbone';
export * from './pipeline/evaluate';
export * from './pipeline/finetune';
export * from './pipeline/model';
export * from './pipeline/report';
export * from './pipeline/split';
export * from './pipeline/train';
export * from './pipeline/safeguards';
export * from './pipeline/guardComparison';
export * from './pipeline/finetuneResults';
export * from './pipeline/study';
export * from './pipeline/robustness';
export * from './pipeline/mitigations';
export * from './pipeline/studyView';
export * from './pipeline/audit';
export * from './pipeline/explain';
export * from './pipeline/explainRun';
