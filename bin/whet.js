#!/usr/bin/env node
// The `whet` command: runs the compiled CLI (dist/, built by `npm install` or `npm run build`).
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
