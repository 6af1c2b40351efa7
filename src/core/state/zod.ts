/**
 * zod, as till's schemas use it: without its JIT. zod 4 compiles each object schema
 * into a function (`new Function`) on its first parse; a command parses a file or two
 * once, where compiling costs more than it saves: a deploy's first journal check took
 * ~10 ms with it and ~5.5 ms without (the same ~2 ms after), and a 10,000-host
 * database's check about the same either way (~200 ms). Every schema module imports z
 * from here, so the setting is made before any schema parses.
 */
import * as z from 'zod';

z.config({ jitless: true });

export { z };
