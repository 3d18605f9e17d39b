export * from './common.ts';
export * from './errors.ts';
export * from './mediasoup.ts';
export * from './messages.ts';
export * from './rest.ts';
