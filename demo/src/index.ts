/** Public API of the O&G lifecycle demo: the paper's three workflows on generated data, and its answers to Q1–Q6. */
export { resolveDemoConfig } from './DemoConfig.ts';
export type { DemoConfig } from './DemoConfig.ts';
export { answerQueries, demoParameters, formatAnswers } from './answers.ts';
export type { Answer } from './answers.ts';
export { fileUri } from './files.ts';
export { runDemo } from './runDemo.ts';
export type { DemoReport } from './runDemo.ts';
export { DEMO_SPECS } from './specs.ts';
