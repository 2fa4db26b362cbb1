// The engine's contract lives in src/core/types.ts, below both the engine and its stages, so
// a stage never imports the engine that runs it; re-exported here for the engine's callers.
export * from '../core/types.ts';
