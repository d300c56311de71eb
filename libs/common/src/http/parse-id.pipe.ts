import { BadRequestException, Injectable, type PipeTransform } from '@nestjs/common';

const MAX_INT32 = 2_147_483_647;

/** Parses a route `:id` into a positive 32-bit integer, or answers 400. */
@Injectable()
export class ParseIdPipe implements PipeTransform<string, number> {
  transform(value: string): number {
    const id = /^[1-9][0-9]{0,9}$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(id) || id > MAX_INT32) {
      throw new BadRequestException(`id must be a positive 32-bit integer, got "${value.slice(0, 32)}"`);
    }
    return id;
  }
}
