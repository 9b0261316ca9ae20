#!/usr/bin/env node
import { run } from './program.js';

// Exit once stdout has drained, so piped --json output is never cut short.
const code = await run(process.argv);
process.stdout.write('', () => process.exit(code));
