export { createRoomStore, redisClientOptions } from './createRoomStore.ts';
export { MemoryRoomStore, type MemoryRoomStoreOptions } from './MemoryRoomStore.ts';
export {
  type RedisRoomKeys,
  RedisRoomStore,
  type RedisRoomStoreOptions,
  RoomStoreDataError,
} from './RedisRoomStore.ts';
export type { RoomStore } from './RoomStore.ts';
export * from './RoomTypes.ts';
