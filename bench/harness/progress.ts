// A one-line progress indicator on stderr: step n/N, elapsed, estimated remaining, what is being measured.
// On a TTY the line is rewritten in place; otherwise each step is one line (CI logs).

export interface Progress {
  /** Adds planned work (seconds) not known at the start (e.g. the wrk re-run). */
  plan(seconds: number, steps: number): void;
  step(label: string, seconds: number): void;
  note(line: string): void;
  done(): void;
}

function clock(s: number): string {
  s = Math.max(0, Math.round(s));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export function createProgress(totalSeconds: number, totalSteps: number, quiet = false): Progress {
  const tty = process.stderr.isTTY === true;
  const t0 = Date.now();
  let planned = totalSeconds;
  let stepsPlanned = totalSteps;
  let doneSeconds = 0;
  let steps = 0;
  let last = '';
  const write = (s: string): void => {
    if (quiet) return;
    if (tty) process.stderr.write(`\r\x1b[2K${s}`);
    else process.stderr.write(`${s}\n`);
  };
  return {
    plan(seconds, n) {
      planned += seconds;
      stepsPlanned += n;
    },
    step(label, seconds) {
      steps++;
      const elapsed = (Date.now() - t0) / 1000;
      // Scale the remaining plan by how far off the estimate has been so far.
      const speed = doneSeconds > 0 ? elapsed / doneSeconds : 1;
      const eta = (planned - doneSeconds) * speed;
      doneSeconds += seconds;
      last = `[${String(steps).padStart(3)}/${stepsPlanned}] ${clock(elapsed)} elapsed, ~${clock(eta)} left · ${label}`;
      write(last);
    },
    note(line) {
      if (quiet) return;
      if (tty) process.stderr.write(`\r\x1b[2K${line}\n${last}`);
      else process.stderr.write(`${line}\n`);
    },
    done() {
      if (!quiet && tty) process.stderr.write('\r\x1b[2K');
    },
  };
}
