/**
 * The text of `regsync --help`, built from the settings table so that every flag is documented
 * with its environment variable.
 */
import { envName, flagsOf } from './flags.js'
import type { Command } from './flags.js'

/** Column where flag descriptions start, and the width they wrap at (lines stay within 100). */
const COLUMN = 28
const WIDTH = 100 - COLUMN

function wrap(text: string): string[] {
  const lines: string[] = []
  for (const paragraph of text.split('\n')) {
    let line = ''
    for (const word of paragraph.split(' ')) {
      if (line !== '' && line.length + 1 + word.length > WIDTH) {
        lines.push(line)
        line = word
      } else {
        line = line === '' ? word : `${line} ${word}`
      }
    }
    lines.push(line)
  }
  return lines
}

function optionLines(command: Command): string {
  const lines: string[] = []
  for (const flag of flagsOf(command)) {
    const head = `  --${flag.name}${flag.arg === undefined ? '' : ` ${flag.arg}`}`
    const text = wrap(`${flag.help}\nenv ${envName(flag.name)}${flag.type === 'list' ? ' (comma-separated)' : ''}`)
    text.forEach((line, index) => lines.push(`${(index === 0 ? head : '').padEnd(COLUMN)}${line}`))
  }
  return lines.join('\n')
}

/** The text of `regsync --help`. */
export const HELP = `regsync: keeps an Apereo CAS service-registry directory replicated across a cluster,
with field-level merges and no resurrected deletes.

Usage:
  regsync agent --dir DIR --data DIR [options]
  regsync status [--url URL] [--secret-file FILE] [--json] [options]
  regsync journal [--url URL] [--secret-file FILE] [--json] [options]
  regsync restore ID [--url URL] [--secret-file FILE] [options]
  regsync demo [--root DIR]
  regsync --help | --version

Commands:
  agent     Run the agent until SIGTERM or SIGINT: mirror DIR into a LevelDB-backed document under
            --data, both ways, and sync it with the peers over websockets. One listener (--listen)
            serves the peer links and GET /healthz, /readyz, /status, /metrics and /journal.
  status    Ask a running agent for GET /status and print it (node, files, journal, problems,
            peers, last error); --json prints the raw JSON.
  journal   List a running agent's conflict journal (GET /journal): values that lost a
            concurrent write, files deleted by a peer, stale copies removed, passive reverts,
            local writes made from an older copy. The options are those of status.
  restore   Put journal entry ID back (POST /journal/ID/restore), as a new local write that
            replicates. The options are those of status.
  demo      Start a three-node cluster on 127.0.0.1 under DIR (default .regsync-demo, emptied
            first): node 1 starts with the sample definitions; an edit and a delete are shown
            converging, then the cluster runs until Ctrl-C.
  help      Show this help (also -h, --help; \`regsync agent --help\` too).
  version   Show the version (also -v, --version).

Options of agent:
${optionLines('agent')}

Options of status:
${optionLines('status')}

Where settings come from, highest precedence first:
  1. flags on the command line;
  2. environment variables: REGSYNC_ and the flag name in upper snake case (REGSYNC_PEERS_DNS);
     lists are comma-separated, booleans are true/false (or 1/0, yes/no, on/off), and empty
     variables are ignored;
  3. the config file named by --config or REGSYNC_CONFIG: a YAML or JSON mapping whose keys are
     the long flag names (listen: 0.0.0.0:7070, peer: [wss://cas2:7070], secret-file: secret);
     relative paths in it are relative to the file; an unknown key is an error;
  4. the defaults above.
  A list from a higher place replaces a lower one (they are not merged). One config file can serve
  both commands: each ignores the keys of the other. See docs/configuration.md.

Endpoints of the listener (GET or HEAD; other methods get 405, other paths 404):
  /healthz   200 "ok" while the agent runs. No secret needed.
  /readyz    200 once the directory is imported and the node has synced with a peer (or has
             none); 503 with the reason otherwise. No secret needed.
  /status    JSON: node id, version, mode, peers, nodes, files, problems, journal size, errors.
  /metrics   Prometheus metrics.
  /sync/CLUSTER  websocket upgrade for peer links (the y-websocket protocol).
  Everything but /healthz and /readyz needs the secret: "Authorization: Bearer SECRET" or
  "?token=SECRET"; 401 otherwise.

Exit codes:
  agent:   0 after a clean shutdown (SIGTERM or SIGINT); 1 when it cannot start (data directory
           locked or unreadable, address in use, unreadable secret or TLS file); 2 for bad usage
           (unknown flag or config key, invalid value, unreadable config file).
  status:  0 when the agent answered; 1 when it cannot be reached or refuses (wrong or missing
           secret, an error answer); 2 for bad usage.
  help, version: 0; regsync with no command prints this help and exits 2.
`
