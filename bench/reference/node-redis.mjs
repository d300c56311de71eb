// Ceiling: a bare node:http server answering GET /users/:id from Redis (one ioredis GET), nothing else.
import { createServer } from 'node:http';
import { Redis } from 'ioredis';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://localhost:6379');
const prefix = process.env.KEY_PREFIX ?? 'bench:ref:';
async function answer(request, response) {
  const match = /^\/users\/(\d+)$/.exec(request.url ?? '');
  const body = match ? await redis.get(`${prefix}${match[1]}`) : null;
  response.writeHead(body ? 200 : 404, { 'content-type': 'application/json' });
  response.end(body ?? '{}');
}

createServer((request, response) => {
  answer(request, response).catch(() => response.writeHead(503).end());
}).listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('ready\n'));
