/** Public API of the composition root: the embedded stack and the wiring of the distributed services. */
export { EMBEDDED_ENV, resolveEmbeddedConfig } from './embedded/EmbeddedConfig.ts';
export type { EmbeddedConfig } from './embedded/EmbeddedConfig.ts';
export { EmbeddedStack } from './embedded/EmbeddedStack.ts';
