/** Exit codes, distinct per kind of failure so scripts can branch on them (documented in `llmfleet --help`). */
export enum ExitCode {
  OK = 0,
  /** The operation ran but did not succeed (e.g. a download ended in ERROR on some node). */
  FAILED = 1,
  USAGE = 2,
  NOT_FOUND = 3,
  AUTH = 4,
  UNREACHABLE = 5,
  SERVER = 6,
  /** Ctrl-C while waiting: watching stopped, the server's work goes on. */
  INTERRUPTED = 130,
}

export const EXIT_CODE_HELP = `
Exit codes:
  0    success
  1    the operation failed (e.g. a download did not end READY on every node)
  2    usage error (bad command, option or value)
  3    not found (model, node, key)
  4    authentication: not logged in, key rejected, or role too low
  5    control plane unreachable
  6    server error
  130  interrupted (Ctrl-C): stopped watching; the server's work goes on

Environment:
  LLMFLEET_URL       control plane URL (overrides the config file)
  LLMFLEET_API_KEY   API key (overrides the config file)
  NO_COLOR           no colours
  XDG_CONFIG_HOME    where llmfleet/config.json is kept (default ~/.config)`;

/** A failure to report as one line on stderr, ending the process with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (message: string) => new CliError(message, ExitCode.USAGE);
export const notFoundError = (message: string) => new CliError(message, ExitCode.NOT_FOUND);
