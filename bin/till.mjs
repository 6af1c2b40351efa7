#!/usr/bin/env node
// The launcher of earlier versions, kept because scheduler units and crontab lines
// written by them name this file: it starts bin/till.cjs, the launcher now.
import { createRequire } from 'node:module';

createRequire(import.meta.url)('./till.cjs');
