import type { DataSource } from 'typeorm';
import type { DomainError } from '../errors/domain.errors';
import { translateDatabaseErrors } from './database-errors';

/**
 * Runs one raw statement on a pooled connection and returns its rows (also for `INSERT/UPDATE/DELETE …
 * RETURNING`), with driver errors turned into domain errors by {@link translateDatabaseErrors}.
 */
export function queryRows<R>(
  dataSource: DataSource,
  sql: string,
  parameters: unknown[],
  onUniqueViolation?: () => DomainError,
): Promise<R[]> {
  return translateDatabaseErrors(async () => {
    const runner = dataSource.createQueryRunner();
    try {
      const result = await runner.query(sql, parameters, true);
      return result.records as R[];
    } finally {
      await runner.release();
    }
  }, onUniqueViolation);
}
