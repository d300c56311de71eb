// Ceiling without a cache: a bare node:http server answering GET /users/:id with one primary-key SELECT.
import { createServer } from 'node:http';
import pg from 'pg';

const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL,
  max: 10,
  options: `-c search_path=${process.env.DATABASE_SCHEMA}`,
});
async function answer(request, response) {
  const match = /^\/users\/(\d+)$/.exec(request.url ?? '');
  const result = match
    ? await pool.query('SELECT id, name, email, age, created_at, updated_at FROM users WHERE id = $1', [
        Number(match[1]),
      ])
    : null;
  const row = result?.rows[0];
  response.writeHead(row ? 200 : 404, { 'content-type': 'application/json' });
  response.end(JSON.stringify(row ?? {}));
}

createServer((request, response) => {
  answer(request, response).catch(() => response.writeHead(503).end());
}).listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('ready\n'));
