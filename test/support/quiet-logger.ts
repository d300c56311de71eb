import { Logger } from '@nestjs/common';

// Importing several apps' modules into one test process registers several TypeORM data sources by the default
// name, which @nestjs/typeorm warns about at import time (one app per process never does). Each app then logs
// at its own LOG_LEVEL; until one exists, only errors.
Logger.overrideLogger(['fatal', 'error']);
