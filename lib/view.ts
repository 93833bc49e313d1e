/** lib/view: what the user sees: charts, progress, notebook display, HTML report. */
export * from './view/drawing';
export * from './view/lineChart';
export * from './view/confusionChart';
export * from './view/imageGrid';
export * from './view/display';
export * from './view/html';
export * from './view/notebookPages';
export * from './view/progress';
export * from './view/report';
export * from './view/screeningFigures';
export * from './view/trainingView';
export * from './view/annotate';
export * from './view/safeguardFigures';
export * from './view/explanationFigures';
