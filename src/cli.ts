// The `gatemesh` command: serve a config, validate one, or show its route table.
//   gatemesh [--config <file|dir>]       serve (default: GATEMESH_CONFIG, else examples/gatemesh.yaml)
//   gatemesh validate <file|dir>          exit 0 when valid, 1 with file:line: field: problem lines
//   gatemesh routes [--config <path>] [--test '<METHOD> <url>' -H 'name: value' ...]   (src/routes-command.ts)
import { DEFAULT_CONFIG_PATH, validateConfig } from './config/load';
import { readSettings } from './env';
import { startGateway } from './main';
import { runRoutesCommand } from './routes-command';

const USAGE = `usage:
  gatemesh [--config <file|dir>]    run the gateway (default: $GATEMESH_CONFIG, else the embedded demo config)
  gatemesh validate <file|dir>      check a config; prints file:line: field: problem, exit 1 on errors
  gatemesh routes [--config <file|dir>] [--test '<METHOD> <url>' [-H 'name: value']...] [--json]
                                    print the compiled route table, or which rule a request gets and why
  gatemesh --help | --version
`;

export function main(argv: string[]): void {
  let configPath: string | undefined;
  if (argv[0] === 'routes') {
    process.exitCode = runRoutesCommand(argv.slice(1), (s) => process.stdout.write(s), (s) => process.stderr.write(s));
    return;
  }
  if (argv[0] === 'validate') {
    const target = argv[1];
    if (!target) {
      process.stderr.write(USAGE);
      process.exit(2);
    }
    const { errors, warnings } = validateConfig(target);
    for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
    for (const e of errors) process.stderr.write(`${e.message}\n`);
    if (errors.length === 0) process.stdout.write(`${target}: valid\n`);
    process.exit(errors.length === 0 ? 0 : 1);
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else if (a === '--version') {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      process.stdout.write(`${require('../../package.json').version}\n`);
      process.exit(0);
    } else if (a === '--config' || a === '-c') {
      configPath = argv[++i];
    } else if (a.startsWith('--config=')) {
      configPath = a.slice('--config='.length);
    } else {
      process.stderr.write(`unknown argument: ${a}\n${USAGE}`);
      process.exit(2);
    }
  }
  let settings;
  try {
    settings = readSettings();
  } catch (err) {
    process.stderr.write(`gatemesh: ${(err as Error).message}\n`);
    process.exit(2);
  }
  const path = configPath ?? settings.config ?? DEFAULT_CONFIG_PATH;
  startGateway(path, settings).then(
    (gw) => {
      let stopping = false;
      const onSignal = (): void => {
        if (stopping) return;
        stopping = true;
        gw.stop().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
    },
    (err: Error) => {
      process.stderr.write(`gatemesh: ${err.message}\n`);
      process.exit(1);
    },
  );
}
