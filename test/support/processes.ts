import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { PROJECT_ROOT } from '../../src/paths';

export interface ChildSpec {
  /** For logs: "worker", "consumer". */
  name: string;
  /** A TypeScript entry point, relative to the project root; run by Node with tsx's loader. */
  entry: string;
  /** Run the entry's build in dist/ (`npm run build`) with plain Node, as the image does. */
  compiled?: boolean;
  args?: string[];
  /** The child's whole environment: nothing of this process's leaks in by accident. */
  env: Record<string, string>;
  /** stdout and stderr of every start are appended here. */
  logFile: string;
  onStdoutLine?: (line: string) => void;
  onOutputLine?: (line: string) => void;
  /** Every exit, once its output has been read; `expected` when it followed stop() or killNow(). */
  onExit?: (exit: ChildExit) => void;
}

export interface ChildExit {
  code: number | null;
  signal: string | null;
  at: number;
  expected: boolean;
}

/**
 * One child process that can be started again after it dies: `node --import tsx <entry>`, a
 * single process (no wrapper in between), so SIGKILL to its pid kills exactly it.
 */
export class RestartableChild {
  private child: ChildProcess | undefined;
  private exit: Promise<void> = Promise.resolve();
  private readonly log: WriteStream;
  starts = 0;
  kills = 0;
  /** Exits nobody asked for (a crash rather than a kill). */
  unexpectedExits: Array<{ code: number | null; signal: string | null; at: number }> = [];
  private expectingExit = false;
  /** How the last start ended. */
  lastExit: { code: number | null; signal: string | null } | undefined;

  constructor(private readonly spec: ChildSpec) {
    this.log = createWriteStream(spec.logFile, { flags: 'a' });
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  private entryArgs(): string[] {
    const { entry, compiled } = this.spec;
    return compiled
      ? [path.join(PROJECT_ROOT, 'dist', entry.replace(/\.ts$/, '.js'))]
      : ['--import', 'tsx', path.join(PROJECT_ROOT, entry)];
  }

  running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): void {
    if (this.running()) return;
    this.starts += 1;
    this.expectingExit = false;
    this.log.write(`\n===== ${this.spec.name} start #${this.starts} at ${new Date().toISOString()} =====\n`);
    const child = spawn(process.execPath, [...this.entryArgs(), ...(this.spec.args ?? [])], {
      cwd: PROJECT_ROOT,
      env: this.spec.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child = child;
    this.exit = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.lastExit = { code, signal };
        this.log.write(
          `===== ${this.spec.name} exited (code ${code}, signal ${signal}) at ${new Date().toISOString()} =====\n`,
        );
        const exit = { code, signal, at: Date.now(), expected: this.expectingExit };
        if (!exit.expected) this.unexpectedExits.push(exit);
        resolve();
        // Its last lines may still be in the pipes: tell of the exit once they are read, or after
        // a moment should something the child started hold them open.
        let told = false;
        const tell = () => {
          if (!told) this.spec.onExit?.(exit);
          told = true;
        };
        child.once('close', tell);
        setTimeout(tell, 2_000).unref();
      });
      child.once('error', () => resolve());
    });
    for (const [stream, isStdout] of [
      [child.stdout, true],
      [child.stderr, false],
    ] as const) {
      if (!stream) continue;
      readline.createInterface({ input: stream }).on('line', (line) => {
        this.log.write(`${line}\n`);
        if (isStdout) this.spec.onStdoutLine?.(line);
        this.spec.onOutputLine?.(line);
      });
    }
  }

  /** Sends the signal to this child's pid and waits until it has exited. */
  async stop(signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child || !this.running()) return;
    this.expectingExit = true;
    if (signal === 'SIGKILL') this.kills += 1;
    child.kill(signal);
    const timer = signal === 'SIGTERM' ? setTimeout(() => child.kill('SIGKILL'), 15_000) : undefined;
    await this.exit;
    if (timer) clearTimeout(timer);
  }

  /** Synchronous last resort for process exit handlers. */
  killNow(): void {
    if (this.running()) {
      this.expectingExit = true;
      this.child?.kill('SIGKILL');
    }
  }

  async close(): Promise<void> {
    await this.stop('SIGTERM');
    await new Promise<void>((resolve) => this.log.end(() => resolve()));
  }
}
