import { Command, CommanderError } from 'commander';
import { registerKeys } from './commands/keys.js';
import { registerLogin } from './commands/login.js';
import { registerModels } from './commands/models.js';
import { registerNodes } from './commands/nodes.js';
import { registerRepairs } from './commands/repairs.js';
import { registerWatch } from './commands/watch.js';
import { CliError, EXIT_CODE_HELP, ExitCode } from './errors.js';

export const VERSION = '0.1.0';

export function buildProgram(): Command {
  const program = new Command('llmfleet')
    .description('Command line for an llmfleet control plane: models, nodes, downloads, repairs, keys')
    .version(VERSION, '-V, --version')
    // Usage errors are thrown (not exited on) so they get their own exit code; settings are inherited by subcommands.
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .configureHelp({ sortSubcommands: false, showGlobalOptions: false })
    .addHelpText(
      'after',
      `
Examples:
  $ llmfleet login --url http://localhost:3000
  $ llmfleet models add Qwen/Qwen2.5-0.5B-Instruct-GGUF
  $ llmfleet models download hf/Qwen/Qwen2.5-0.5B-Instruct-GGUF --wait
${EXIT_CODE_HELP}`,
    );
  registerLogin(program);
  registerModels(program);
  registerNodes(program);
  registerRepairs(program);
  registerWatch(program);
  registerKeys(program);
  forEachCommand(program, (command) => {
    if (command !== program) command.addHelpText('after', EXIT_CODE_SUMMARY);
  });
  return program;
}

const EXIT_CODE_SUMMARY =
  '\nExit codes: 0 ok, 1 failed, 2 usage, 3 not found, 4 auth, 5 unreachable, 6 server error, 130 interrupted.';

function forEachCommand(command: Command, fn: (command: Command) => void): void {
  fn(command);
  for (const sub of command.commands) forEachCommand(sub, fn);
}

/** Runs the CLI with `argv` (as process.argv); returns the exit code. Errors are printed as one line on stderr. */
export async function run(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander already printed its message (or the help / version).
      return error.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
    }
    if (error instanceof CliError) {
      process.stderr.write(`llmfleet: ${error.message}\n`);
      return error.exitCode;
    }
    process.stderr.write(`llmfleet: unexpected error: ${error instanceof Error ? error.message : String(error)}\n`);
    return ExitCode.FAILED;
  }
}
