/**
 * Progress on stderr: a bar redrawn at most ten times a second on a terminal, and one line per
 * finished step otherwise, so CI logs stay readable.
 */

const encoder = new TextEncoder();

/** A line on stderr, prefixed like the other scripts' logs. */
export const log = (message: string) => console.error(`bench: ${message}`);

/** A step with a known number of rounds. */
export interface Progress {
  update(done: number): void;
  /** Clears the bar and logs the step's summary with its duration. */
  finish(summary: string): void;
}

/**
 * A progress bar for `total` rounds of the step `label`.
 *
 * @example
 * const bar = progress("search", 220);
 * for (let i = 1; i <= 220; i++) bar.update(i);
 * bar.finish("p50 7.1 ms");
 */
export function progress(label: string, total: number): Progress {
  const tty = Deno.stderr.isTerminal();
  const started = performance.now();
  let drawn = 0;
  const draw = (text: string) => Deno.stderr.writeSync(encoder.encode(`\r\x1b[2K${text}`));
  const seconds = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;
  if (!tty) log(`${label}: ${total} rounds...`);
  return {
    update(done) {
      const now = performance.now();
      if (!tty || now - drawn < 100) return;
      drawn = now;
      const width = 30, filled = Math.round(Math.min(done / total, 1) * width);
      draw(
        `bench: ${label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ` +
          `${done}/${total}  ${seconds()}`,
      );
    },
    finish(summary) {
      if (tty) draw("");
      log(`${label}: ${summary} (${seconds()})`);
    },
  };
}
