import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { CacheHealth, type CacheHealthReport } from '../../cache-health';
import { ChangeLog } from './change-log';
import { RedisMemory } from '../../redis/redis-memory';
import { WriteAdmission } from './write-admission';

/**
 * Checks, after every Redis memory reading, that the change log's accounting adds up (every record that
 * entered it is pending, settled, dead-lettered or counted missing). When it does not, Redis lost part of the
 * log: the log is repaired where the rows survive (`ChangeLog.reconcile`), the rest is counted missing and
 * logged once with its likely cause, and `/health` answers 503 from then on: acknowledged writes were lost.
 * `/health` is 503 too while write-behind refuses writes because of Redis's eviction policy.
 */
@Injectable()
export class ChangeLogAudit extends CacheHealth implements OnApplicationBootstrap {
  private readonly logger = new Logger(ChangeLogAudit.name);
  private missing = 0;
  private auditing = false;

  constructor(
    private readonly log: ChangeLog,
    private readonly memory: RedisMemory,
    private readonly admission: WriteAdmission,
  ) {
    super();
  }

  onApplicationBootstrap(): void {
    this.memory.onCheck(() => void this.audit());
  }

  /** Missing changes seen so far (in Redis's counters, so every instance agrees). */
  get missingChanges(): number {
    return this.missing;
  }

  async audit(): Promise<void> {
    if (this.auditing) return;
    this.auditing = true;
    try {
      let stats = await this.log.stats();
      if (stats.missingChanges > this.missing) {
        const { recovered } = await this.log.reconcile();
        if (recovered > 0) this.logger.warn(`${recovered} records fell out of the pending set and were put back`);
        stats = await this.log.stats();
      }
      if (stats.missingChanges > this.missing) {
        this.logger.error(
          `${stats.missingChanges} records' accepted changes vanished from Redis before they reached Postgres ` +
            `(${stats.missingChanges - this.missing} new): likely cause: ${this.memory.lossCause()}`,
        );
      }
      this.missing = stats.missingChanges;
    } catch (error) {
      this.logger.debug(`Change log not audited: ${(error as Error).message}`);
    } finally {
      this.auditing = false;
    }
  }

  override report(): CacheHealthReport {
    const refusal = this.admission.refusal;
    const details = {
      refusingWrites: refusal?.reason ?? null,
      missingChanges: this.missing,
      redisMaxmemoryPolicy: this.memory.state?.policy ?? null,
    };
    if (this.missing > 0) {
      return {
        up: false,
        message:
          `${this.missing} accepted changes vanished from Redis before they reached Postgres: ` +
          this.memory.lossCause(),
        details,
      };
    }
    if (refusal?.reason === 'eviction-policy') return { up: false, message: refusal.message, details };
    return { up: true, message: refusal?.message, details };
  }
}
