export { MediaWorkerPool } from './MediaWorkerPool.ts';
export type * from './MediaWorkerPoolTypes.ts';
