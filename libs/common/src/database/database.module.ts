import { type DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { AppIdentity, DatabaseConfig } from '../config/config-slices';
import { DatabaseReplicas } from './database-replicas';
import { ensureDatabaseAndSchema } from './ensure-database';

/** What a domain contributes to the app's database: its entities and the migrations that create their tables. */
export interface DatabaseTables {
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
  static forRoot(tables: DatabaseTables): DynamicModule {
    return {
      module: DatabaseModule,
      global: true,
      providers: [DatabaseReplicas],
      imports: [
        TypeOrmModule.forRootAsync({
          inject: [DatabaseConfig, AppIdentity],
          useFactory: (database: DatabaseConfig, identity: AppIdentity) => ({
            type: 'postgres' as const,
            url: database.url,
            schema: identity.schema,
            applicationName: identity.name,
            entities: tables.entities,
            migrations: tables.migrations,
            migrationsRun: true,
            migrationsTableName: 'migrations',
            synchronize: false,
            poolSize: database.poolSize,
            connectTimeoutMS: database.timeoutMs,
            retryAttempts: 3,
            retryDelay: 1000,
            extra: {
              options: `-c search_path=${identity.schema}`,
              statement_timeout: database.timeoutMs,
              query_timeout: database.timeoutMs + 500,
              idleTimeoutMillis: 30_000,
            },
          }),
          dataSourceFactory: async (dataSourceOptions) => {
            const options = dataSourceOptions as { url: string; schema: string; connectTimeoutMS: number };
            await ensureDatabaseAndSchema(options.url, options.schema, options.connectTimeoutMS);
            return new DataSource(dataSourceOptions!).initialize();
          },
        }),
      ],
      exports: [TypeOrmModule, DatabaseReplicas],
    };
  }
}
