/** lib/view: what the user sees: charts, progress, notebook display, HTML report. */
export * from './view/charts';
export * from './view/display';
export * from './view/html';
export * from './view/progress';
export * from './view/report';
export * from './view/screeningFigures';
export * from './view/trainingView';
export * from './view/explanationFigures';
