import type { CliCommand } from '../context.js';
import { holdsCommand } from './holds.js';
import { protectCommand } from './protect.js';
import { releaseCommand } from './release.js';
import { statusCommand } from './status.js';

/** Every subcommand, in help order. A new one is a file in this folder and one line here. */
export const COMMANDS: CliCommand[] = [statusCommand, protectCommand, holdsCommand, releaseCommand];
