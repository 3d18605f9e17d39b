export * from './Config.ts';
export { EnvSchema } from './schema.ts';
