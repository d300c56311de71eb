// Ceiling for Nest itself: one Nest route answering GET /users/:id from Redis, on the adapter in HTTP_ADAPTER.
// Plain JavaScript, so decorators are applied by hand.
import 'reflect-metadata';
import { Controller, Get, Module, Param } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Redis } from 'ioredis';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://localhost:6379');
const prefix = process.env.KEY_PREFIX ?? 'bench:ref:';

class UsersController {
  async get(id) {
    return JSON.parse((await redis.get(`${prefix}${id}`)) ?? '{}');
  }
}
Param('id')(UsersController.prototype, 'get', 0);
Get(':id')(UsersController.prototype, 'get', Object.getOwnPropertyDescriptor(UsersController.prototype, 'get'));
Controller('users')(UsersController);
class ReferenceModule {}
Module({ controllers: [UsersController] })(ReferenceModule);

const adapter = process.env.HTTP_ADAPTER === 'fastify' ? new FastifyAdapter() : new ExpressAdapter();
const app = await NestFactory.create(ReferenceModule, adapter, { logger: ['error'] });
await app.listen(Number(process.env.PORT), '127.0.0.1');
process.stdout.write('ready\n');
