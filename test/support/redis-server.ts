export { RedisServer } from '../../scripts/lib/redis-server.mjs';
