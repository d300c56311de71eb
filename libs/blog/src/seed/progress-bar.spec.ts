import { ProgressBar } from './progress-bar';

function capture(isTTY: boolean): { lines: string[]; output: { isTTY: boolean; write(text: string): void } } {
  const lines: string[] = [];
  return { lines, output: { isTTY, write: (text: string) => lines.push(text) } };
}

describe('ProgressBar', () => {
  it('redraws one line in place on a terminal and ends it on finish', () => {
    const { lines, output } = capture(true);
    const bar = new ProgressBar('Seeding', 200, output);
    bar.update(50);
    bar.update(200);
    bar.finish();
    expect(lines[0]).toMatch(/^\rSeeding \[#{8}\.{22}\] {2}25% 50\/200 \d+\.\ds$/);
    expect(lines[1]).toMatch(/^\rSeeding \[#{30}\] 100% 200\/200 /);
    expect(lines[2]).toBe('\n');
  });

  it('prints one line per tenth when the output is a log', () => {
    const { lines, output } = capture(false);
    const bar = new ProgressBar('Seeding', 1000, output);
    for (let done = 0; done <= 1000; done += 10) bar.update(done);
    bar.finish();
    expect(lines).toHaveLength(11);
    expect(lines.every((line) => line.endsWith('\n'))).toBe(true);
    expect(lines[10]).toMatch(/100% 1,000\/1,000/);
  });
});
