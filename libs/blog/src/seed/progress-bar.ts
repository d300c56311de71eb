/** Where the bar is drawn; `process.stdout` by default. */
export interface ProgressOutput {
  isTTY?: boolean;
  write(text: string): unknown;
}

const WIDTH = 30;

/**
 * A one-line console progress bar. On a terminal it redraws in place; in a log (not a TTY) it prints one line
 * per tenth, so CI logs stay short.
 */
export class ProgressBar {
  private readonly startedAt = Date.now();
  private lastTenth = -1;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly output: ProgressOutput = process.stdout,
  ) {}

  update(done: number): void {
    const fraction = this.total === 0 ? 1 : Math.min(1, done / this.total);
    if (this.output.isTTY === true) {
      this.output.write(`\r${this.line(done, fraction)}`);
      return;
    }
    const tenth = Math.floor(fraction * 10);
    if (tenth === this.lastTenth) return;
    this.lastTenth = tenth;
    this.output.write(`${this.line(done, fraction)}\n`);
  }

  /** Ends the line on a terminal. */
  finish(): void {
    if (this.output.isTTY === true) this.output.write('\n');
  }

  private line(done: number, fraction: number): string {
    const filled = Math.round(fraction * WIDTH);
    const bar = `${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}`;
    const seconds = ((Date.now() - this.startedAt) / 1000).toFixed(1);
    const percent = String(Math.floor(fraction * 100)).padStart(3);
    return `${this.label} [${bar}] ${percent}% ${done.toLocaleString('en-US')}/${this.total.toLocaleString('en-US')} ${seconds}s`;
  }
}
