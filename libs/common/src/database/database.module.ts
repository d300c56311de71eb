import { type DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { ensureDatabaseAndSchema } from './ensure-database';

/** What a lib contributes to the app's database: its entities and the migrations that create their tables. */
export interface DatabaseModuleOptions {
  schema: string;
  applicationName: string;
  entities: NonNullable<DataSourceOptions['entities']>;
  migrations: NonNullable<DataSourceOptions['migrations']>;
}

/**
 * TypeORM over Postgres for one app: its own schema (created on first start, and first on every connection's
 * search_path), migrations run at start, `synchronize` never, and bounded connect and statement times so a
 * request fails fast instead of hanging when Postgres is away.
 */
@Module({})
export class DatabaseModule {
  static forRoot(options: DatabaseModuleOptions): DynamicModule {
    return {
      module: DatabaseModule,
      imports: [
        TypeOrmModule.forRootAsync({
          inject: [AppConfig],
          useFactory: (config: AppConfig) => ({
            type: 'postgres' as const,
            url: config.DATABASE_URL,
            schema: options.schema,
            applicationName: options.applicationName,
            entities: options.entities,
            migrations: options.migrations,
            migrationsRun: true,
            migrationsTableName: 'migrations',
            synchronize: false,
            poolSize: config.DATABASE_POOL_SIZE,
            connectTimeoutMS: config.DATABASE_TIMEOUT_MS,
            retryAttempts: 3,
            retryDelay: 1000,
            extra: {
              options: `-c search_path=${options.schema}`,
              statement_timeout: config.DATABASE_TIMEOUT_MS,
              query_timeout: config.DATABASE_TIMEOUT_MS + 500,
              idleTimeoutMillis: 30_000,
            },
          }),
          dataSourceFactory: async (dataSourceOptions) => {
            const config = dataSourceOptions as { url: string; connectTimeoutMS: number };
            await ensureDatabaseAndSchema(config.url, options.schema, config.connectTimeoutMS);
            return new DataSource(dataSourceOptions!).initialize();
          },
        }),
      ],
      exports: [TypeOrmModule],
    };
  }
}
