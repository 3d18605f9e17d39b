export * from './client.ts';
export * from './common.ts';
export * from './errors.ts';
export * from './mediasoup.ts';
export * from './rest.ts';
export * from './server.ts';
export type { Delivery, Route } from './table.ts';
