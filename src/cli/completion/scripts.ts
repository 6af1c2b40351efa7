/**
 * The scripts `till completion bash|zsh|fish` prints. Each is a thin shim: on TAB it runs
 * `till __complete <shell> -- …` with the words typed so far, which answers with one
 * line saying what to complete (`words`, `files` or `dirs`) and then one candidate per
 * line (`value<TAB>description`). The command tree and the names live in till; the
 * scripts never need to change when commands do.
 *
 * bash splits words at COMP_WORDBREAKS (`=`, `:`, `@`…), so its shim passes those and the
 * line up to the cursor: till splits the line as the shell does, works out the text
 * readline replaces (after the last break character outside quotes, or after a quote
 * left open; a break `@` stays with it, as readline's special prefixes do), strips the
 * rest from each candidate, and says that text on its first line (for bash's own file
 * completion). zsh and fish pass the words unquoted, so `'@web,!web1,&w` completes too.
 */
export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** A shell script written as is: `\${` stands for the shell's `${` (a template literal would expand it). */
function script(text: TemplateStringsArray): string {
  return text.raw.join('').replaceAll('\\${', '${');
}

const BASH = script`# till completion for bash.
# Load it in ~/.bashrc:   source <(till completion bash)
# or install it:          till completion bash > ~/.local/share/bash-completion/completions/till
_till_complete() {
  local out head kind cur line IFS=$'\n'
  out=$("\${COMP_WORDS[0]}" __complete bash -- "$COMP_WORDBREAKS" "\${COMP_LINE:0:COMP_POINT}" 2>/dev/null) || return 0
  # First line: what to complete, and the text readline replaces; then one candidate per line.
  head=\${out%%$'\n'*}
  kind=\${head%%$'\t'*}
  cur=\${head#*$'\t'}
  COMPREPLY=()
  case $kind in
    files) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")) ;;
    dirs) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur")) ;;
    words)
      [[ $out == *$'\n'* ]] || return 0
      while read -r line; do COMPREPLY+=("\${line%%$'\t'*}"); done <<<"\${out#*$'\n'}"
      ;;
  esac
}
complete -F _till_complete till
`;

const ZSH = script`#compdef till
# till completion for zsh.
# Load it in ~/.zshrc (after compinit):  source <(till completion zsh)
# or install it on your $fpath:          till completion zsh > "\${fpath[1]}/_till"
_till() {
  local out kind line
  local -a lines described
  # The words unquoted (an open quote too: '@web,&w), the current one up to the cursor.
  out=$("\${words[1]}" __complete zsh -- "\${(@Q)words[2,CURRENT-1]}" "\${(Q)PREFIX}" 2>/dev/null) || return 1
  lines=("\${(@f)out}")
  kind=\${lines[1]}
  case $kind in
    files) _files ;;
    dirs) _files -/ ;;
    words)
      for line in "\${(@)lines[2,-1]}"; do
        [[ -n $line ]] || continue
        # _describe takes value:description; a colon in the value is escaped.
        described+=("\${\${line%%$'\t'*}//:/\\:}:\${line#*$'\t'}")
      done
      (( \${#described} )) && _describe -t values till described
      ;;
  esac
}
if [[ $funcstack[1] == _till ]]; then
  _till "$@"
else
  compdef _till till
fi
`;

const FISH = script`# till completion for fish.
# Install it:  till completion fish > ~/.config/fish/completions/till.fish
function __till_complete
    set -l words (commandline -opc)
    # The current token unquoted (an open quote too: '@web,&w).
    set -l current (commandline -ct | string unescape)
    set -l out ($words[1] __complete fish -- $words[2..-1] "$current" 2>/dev/null)
    or return
    switch "$out[1]"
        case files
            __fish_complete_path "$current"
        case dirs
            __fish_complete_directories "$current"
        case words
            printf '%s\n' $out[2..-1]
    end
end
complete -c till -f -a '(__till_complete)'
`;

export function completionScript(shell: Shell): string {
  return { bash: BASH, zsh: ZSH, fish: FISH }[shell];
}

/**
 * The text bash's readline replaces at the end of `line`: what follows the last of the
 * `breaks` characters, with a `@` or `$` break kept at its front (readline's
 * rl_special_prefixes: `@web` is completed whole, `--group=web` only after the `=`).
 */
export function bashReplacedText(line: string, breaks: string): string {
  // Inside quotes a break is text (`'@web,&w`: the & is part of the pattern); a quote
  // left open at the end starts the text replaced, whatever follows it.
  let at = 0;
  let quote: string | undefined;
  let quoteAt = 0;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote !== undefined) {
      if (ch === quote) quote = undefined;
      else if (ch === '\\' && quote === '"') i += 1;
    } else if (ch === '\\') i += 1;
    else if (ch === "'" || ch === '"') {
      quote = ch;
      quoteAt = i + 1;
      if (breaks.includes(ch)) at = i + 1;
    } else if (breaks.includes(ch)) at = i + 1;
  }
  if (quote !== undefined) return line.slice(quoteAt);
  const special = at > 0 && '@$'.includes(line[at - 1]!);
  return line.slice(special ? at - 1 : at);
}

/** The answer to `till __complete`: what to complete (and, for bash, the text replaced), then `value<TAB>description` per line. */
export function renderCandidates(
  kind: string,
  candidates: ReadonlyArray<{ value: string; description: string }>,
  strip = '',
  replaced?: string,
): string {
  const lines = candidates.map((c) => {
    const value = strip !== '' && c.value.startsWith(strip) ? c.value.slice(strip.length) : c.value;
    const description = c.description.replace(/\s+/g, ' ').trim();
    return description === '' ? value : `${value}\t${description}`;
  });
  return [replaced === undefined ? kind : `${kind}\t${replaced}`, ...lines].join('\n') + '\n';
}
