import { AdminTokenGuard, FlushTimeoutError, WriteBehindConfig } from '@app/common';
import { Body, Controller, Get, HttpCode, HttpStatus, Post, Query, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiPropertyOptional, ApiQuery, ApiTags } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsInt, Max, Min, ValidateIf } from 'class-validator';
import { ChangeLog } from './change-log';
import { type DeadLetter, DeadLetters } from './dead-letters';
import { FlushProcessor } from './flush.processor';
import { FlushTrigger } from './flush-trigger';
import { WriteAdmission } from './write-admission';
import { WriteBehindFlusher } from './write-behind-flusher';

const WAIT_LIMIT_MS = 30_000;

interface StatusWriter {
  status(code: number): unknown;
}

export class ReplayDto {
  /** Ids to replay; all dead letters when absent (null is not absent: it is a 400). */
  @ApiPropertyOptional({
    description: 'Ids to replay; every dead letter when absent',
    type: 'array',
    items: { type: 'integer', minimum: 1, maximum: 2_147_483_647 },
    maxItems: 10_000,
  })
  @ValidateIf((_, value) => value !== undefined)
  @IsArray()
  @ArrayMaxSize(10_000)
  @IsInt({ each: true })
  @Min(1, { each: true })
  @Max(2_147_483_647, { each: true })
  ids?: number[];
}

@ApiTags('write-behind')
@Controller()
export class WriteBehindController {
  constructor(
    private readonly trigger: FlushTrigger,
    private readonly log: ChangeLog,
    private readonly deadLetterHash: DeadLetters,
    private readonly processor: FlushProcessor,
    private readonly flusher: WriteBehindFlusher,
    private readonly admission: WriteAdmission,
    private readonly options: WriteBehindConfig,
  ) {}

  /**
   * Starts a flush now: 202. With `?wait=true`, 200 once every change accepted before this request is in
   * Postgres (dead letters aside), or 503 saying what it was waiting for if that takes more than 30 s.
   */
  @Post('flush')
  @HttpCode(200)
  @ApiQuery({ name: 'wait', required: false, type: Boolean })
  async flush(
    @Query('wait') wait: string | undefined,
    @Res({ passthrough: true }) response: StatusWriter,
  ): Promise<object> {
    const acceptedBefore = Date.now();
    await this.trigger.now();
    if (wait !== 'true') {
      response.status(HttpStatus.ACCEPTED);
      return { flushing: true };
    }
    const deadline = acceptedBefore + WAIT_LIMIT_MS;
    while (!(await this.log.flushedUpTo(acceptedBefore))) {
      if (Date.now() > deadline) throw new FlushTimeoutError(await this.waitingFor());
      // Not picked up within a second: flush here too (a no-op in an `api`-only process).
      if (Date.now() - acceptedBefore > 1000) await this.processor.drainDirectly().catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const { pendingWrites, deadLettered } = await this.log.stats();
    return { flushed: true, pendingWrites, deadLettered };
  }

  /** Why changes are still pending: what the log, the last flush and the admission say. */
  private async waitingFor(): Promise<string> {
    const reasons: string[] = [];
    try {
      const { pendingWrites, oldestPendingMs, missingChanges } = await this.log.stats();
      const age = oldestPendingMs === null ? '' : `, the oldest accepted ${Math.round(oldestPendingMs / 1000)} s ago`;
      reasons.push(`${pendingWrites} records still pending${age}`);
      if (missingChanges > 0) reasons.push(`${missingChanges} accepted changes vanished from Redis (see /health)`);
    } catch (error) {
      reasons.push(`Redis cannot be read: ${(error as Error).message}`);
    }
    if (this.options.role === 'api')
      reasons.push('this process does not flush (WRITE_BEHIND_ROLE=api): no worker took them');
    const failure = this.flusher.lastFailure;
    if (failure !== undefined) reasons.push(`the last flush failed: ${failure.message}`);
    const refusal = this.admission.refusal;
    if (refusal !== undefined) reasons.push(`writes are refused: ${refusal.message}`);
    return `Not flushed within ${WAIT_LIMIT_MS / 1000} s: ${reasons.join('; ')}`;
  }

  /** Changes that failed `WRITE_BEHIND_MAX_ATTEMPTS` times, with the reason. */
  @Get('dead-letters')
  @UseGuards(AdminTokenGuard)
  @ApiBearerAuth()
  deadLetters(): Promise<DeadLetter[]> {
    return this.deadLetterHash.list();
  }

  /** Sends dead letters (all, or `ids`) back to be flushed. */
  @Post('dead-letters/replay')
  @HttpCode(200)
  @UseGuards(AdminTokenGuard)
  @ApiBearerAuth()
  async replay(@Body() body: ReplayDto): Promise<{ replayed: number }> {
    const replayed = await this.deadLetterHash.replay(body.ids);
    if (replayed > 0) await this.trigger.now();
    return { replayed };
  }
}
