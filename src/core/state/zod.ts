/**
 * zod's setting for till: no JIT. zod 4 compiles each object schema into a function
 * (`new Function`) on its first parse; a command parses a file or two once, where
 * compiling costs more than it saves: a deploy's first journal check took ~10 ms with
 * it and ~5.5 ms without (the same ~2 ms after), and a 10,000-host database's check
 * about the same either way (~200 ms). Every schema module imports this file, so the
 * setting is made before any schema parses. (A side effect only: re-exporting zod's
 * namespace from here would keep all of zod in the bundle, +367 KB.)
 */
import { config } from 'zod';

config({ jitless: true });
