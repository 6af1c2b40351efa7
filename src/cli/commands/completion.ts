import { Argument } from 'commander';
import { LocalNames } from '../../core/local-names.js';
import type { TillPaths } from '../../core/paths.js';
import { complete, splitLine } from '../completion/complete.js';
import { bashReplacedText, completionScript, renderCandidates, SHELLS, type Shell } from '../completion/scripts.js';
import type { Cli } from '../context.js';
import type { TillCommand } from '../help.js';

/** `till completion <shell>` prints a completion script; the hidden `till __complete` answers its TAB keys. */
export function registerCompletionCommands(program: TillCommand, cli: Cli): void {
  program
    .command('completion')
    .description(
      'print the shell completion script for bash, zsh or fish (commands, options, and host, group, installation and release names from the local database)',
    )
    .addArgument(new Argument('<shell>', 'bash, zsh or fish').choices(SHELLS))
    .example('source <(till completion bash)', 'complete till in this bash (add the line to ~/.bashrc to keep it)')
    .example('till completion zsh > "${fpath[1]}/_till"', 'install it for zsh (start a new shell)')
    .example('till completion fish > ~/.config/fish/completions/till.fish', 'install it for fish')
    .action((shell: Shell) => cli.out(completionScript(shell)));

  program
    .command('__complete', { hidden: true })
    .description('answer a completion script: candidates for the last word')
    .argument('<shell>')
    .argument('[words...]')
    .action(async (shell: string, words: string[]) => {
      // bash: [COMP_WORDBREAKS, line up to the cursor]; zsh, fish: the words, the current one last.
      const bash = shell === 'bash';
      const line = bash ? splitLine(words[1] ?? '') : ['till', ...words];
      const current = line.at(-1) ?? '';
      // Commands and options even where TILL_HOME is not usable (another user's): no names then.
      let paths: TillPaths | undefined;
      try {
        paths = cli.paths();
      } catch {
        paths = undefined;
      }
      const result = await complete(program, line.slice(1, -1), current, new LocalNames(paths));
      if (!bash) {
        cli.out(renderCandidates(result.kind, result.candidates));
        return;
      }
      const replaced = bashReplacedText(words[1] ?? '', words[0] ?? '');
      const strip = current.endsWith(replaced) ? current.slice(0, current.length - replaced.length) : '';
      cli.out(renderCandidates(result.kind, result.candidates, strip, replaced));
    });
}
