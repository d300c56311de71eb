// Ceiling for Express itself: a bare Express 5 route answering GET /users/:id from Redis (one ioredis GET), with
// what a lean Express app turns off (x-powered-by, the body-hash ETag) off here too.
import express from 'express';
import { Redis } from 'ioredis';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://localhost:6379');
const prefix = process.env.KEY_PREFIX ?? 'bench:ref:';
const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.get('/users/:id', async (request, response) => {
  const body = await redis.get(`${prefix}${request.params.id}`);
  response
    .status(body ? 200 : 404)
    .type('application/json')
    .send(body ?? '{}');
});
app.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('ready\n'));
