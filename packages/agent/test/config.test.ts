import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { loadAgentConfig, loadStatusConfig } from '../src/config.js'
import { FLAGS, envName } from '../src/flags.js'
import { HELP } from '../src/help.js'

const roots: string[] = []
afterEach(async () => {
  for (const root of roots.splice(0)) await rm(root, { recursive: true, force: true })
})

async function configFile(name: string, text: string): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'regsync-config-'))
  roots.push(root)
  const path = join(root, name)
  await writeFile(path, text)
  return path
}

/** The one-line message a bad configuration is refused with. */
async function refusal(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e as Error & { code?: string }
  )
  expect(error, 'expected the configuration to be refused').toBeDefined()
  expect(error!.code).toBe('REGSYNC_CONFIG')
  expect(error!.message.split('\n')).toHaveLength(1)
  return error!.message
}

const required = ['--dir', '/srv/services', '--data', '/var/lib/regsync']

describe('agent configuration', () => {
  it('has the documented defaults', async () => {
    const config = await loadAgentConfig({ args: required, env: {} })
    expect(config).toMatchObject({
      dir: '/srv/services',
      data: '/var/lib/regsync',
      listen: { host: '127.0.0.1', port: 7070 },
      advertise: undefined,
      peers: [],
      peersDns: undefined,
      dnsIntervalMs: 10_000,
      cluster: 'cas',
      secretFile: undefined,
      tls: undefined,
      mode: 'active',
      initialImport: 'auto',
      maxMessageBytes: 64 * 1024 * 1024,
      rescanIntervalMs: 60_000,
      maxFileBytes: 1024 * 1024,
      journalRetentionMs: 90 * 24 * 60 * 60 * 1000,
      poll: false,
      logLevel: 'info',
      logFormat: undefined,
      configFile: undefined,
      unknownEnv: []
    })
  })

  it('takes flags over environment over config file over defaults', async () => {
    const file = await configFile(
      'regsync.yml',
      [
        'dir: services',
        'data: /var/lib/from-file',
        'listen: 0.0.0.0:7000',
        'cluster: from-file',
        'mode: passive',
        'dns-interval: 5000',
        'peer:',
        '  - ws://file-a:7070',
        '  - ws://file-b:7070',
        'poll: true',
        'secret-file: secret',
        ''
      ].join('\n')
    )
    const root = join(file, '..')

    // The file alone: relative paths are relative to the file.
    const fromFile = await loadAgentConfig({ args: ['--config', file], env: {} })
    expect(fromFile).toMatchObject({
      configFile: file,
      dir: join(root, 'services'),
      data: '/var/lib/from-file',
      listen: { host: '0.0.0.0', port: 7000 },
      cluster: 'from-file',
      mode: 'passive',
      dnsIntervalMs: 5000,
      peers: ['ws://file-a:7070', 'ws://file-b:7070'],
      poll: true,
      secretFile: join(root, 'secret'),
      rescanIntervalMs: 60_000
    })

    // The environment beats the file, and a list replaces the file's list whole.
    const env = {
      REGSYNC_CONFIG: file,
      REGSYNC_LISTEN: '127.0.0.2:7001',
      REGSYNC_PEER: 'ws://env-a:7070, wss://env-b:7443',
      REGSYNC_MODE: 'active',
      REGSYNC_POLL: 'false',
      REGSYNC_CLUSTER: ''
    }
    const fromEnv = await loadAgentConfig({ args: [], env })
    expect(fromEnv).toMatchObject({
      configFile: file,
      listen: { host: '127.0.0.2', port: 7001 },
      peers: ['ws://env-a:7070', 'wss://env-b:7443'],
      mode: 'active',
      poll: false,
      // An empty variable is unset: the file's value stays.
      cluster: 'from-file',
      dnsIntervalMs: 5000
    })

    // Flags beat both.
    const fromFlags = await loadAgentConfig({
      args: ['--listen', '[::1]:7002', '--peer', 'ws://flag:7070', '--mode', 'passive', '--data', 'relative-data'],
      env
    })
    expect(fromFlags).toMatchObject({
      listen: { host: '::1', port: 7002 },
      peers: ['ws://flag:7070'],
      mode: 'passive',
      // A path given as a flag is relative to the working directory.
      data: resolve('relative-data'),
      cluster: 'from-file',
      dnsIntervalMs: 5000
    })
  })

  it('reads JSON config files, and --config beats REGSYNC_CONFIG', async () => {
    const json = await configFile('regsync.json', JSON.stringify({ dir: '/d', data: '/x', 'peers-dns': 'regsync.cas.svc:7443', 'max-message-size': 2048 }))
    const yaml = await configFile('other.yml', 'dir: /other\ndata: /other-data\n')
    const config = await loadAgentConfig({ args: ['--config', json], env: { REGSYNC_CONFIG: yaml } })
    expect(config).toMatchObject({ dir: '/d', data: '/x', peersDns: { name: 'regsync.cas.svc', port: 7443 }, maxMessageBytes: 2048 })
  })

  it('defaults the --peers-dns port to the listen port', async () => {
    const config = await loadAgentConfig({ args: [...required, '--listen', '0.0.0.0:7443', '--peers-dns', 'regsync.cas.svc'], env: {} })
    expect(config.peersDns).toEqual({ name: 'regsync.cas.svc', port: 7443 })
  })

  it('refuses unknown config keys and unknown flags in one line', async () => {
    const file = await configFile('regsync.yml', 'dir: /d\ndata: /x\nfrobnicate: 3\n')
    expect(await refusal(loadAgentConfig({ args: ['--config', file], env: {} }))).toBe(`unknown key "frobnicate" in the config file ${file}`)
    const nested = await configFile('nested.yml', 'config: other.yml\n')
    expect(await refusal(loadAgentConfig({ args: ['--config', nested], env: {} }))).toContain('unknown key "config"')
    expect(await refusal(loadAgentConfig({ args: [...required, '--frobnicate'], env: {} }))).toBe('unknown option --frobnicate')
    // A flag of the other command is unknown here.
    expect(await refusal(loadAgentConfig({ args: [...required, '--url', 'http://x'], env: {} }))).toBe('unknown option --url')
    expect(await refusal(loadStatusConfig({ args: ['--dir', '/d'], env: {} }))).toBe('unknown option --dir')
  })

  it('names the place a bad value came from', async () => {
    const file = await configFile('regsync.yml', 'dir: /d\ndata: /x\nlisten: nowhere\n')
    expect(await refusal(loadAgentConfig({ args: ['--config', file], env: {} }))).toBe(`listen in ${file} must be HOST:PORT, or [IPv6]:PORT, not "nowhere"`)
    expect(await refusal(loadAgentConfig({ args: required, env: { REGSYNC_DNS_INTERVAL: 'soon' } }))).toBe('REGSYNC_DNS_INTERVAL must be a whole number, not "soon"')
    expect(await refusal(loadAgentConfig({ args: [...required, '--journal-retention', '1.5'], env: {} }))).toBe('--journal-retention must be a whole number, not "1.5"')
    expect((await loadAgentConfig({ args: [...required, '--journal-retention', '0'], env: {} })).journalRetentionMs).toBe(0)
    expect((await loadAgentConfig({ args: required, env: { REGSYNC_JOURNAL_RETENTION: '7' } })).journalRetentionMs).toBe(7 * 24 * 60 * 60 * 1000)
    expect(await refusal(loadAgentConfig({ args: [...required, '--peer', 'http://x:7070'], env: {} }))).toBe('--peer must be a ws:// or wss:// URL, not "http://x:7070"')
    expect(await refusal(loadAgentConfig({ args: [...required, '--mode', 'loud'], env: {} }))).toBe('--mode must be one of active, passive, not "loud"')
    expect(await refusal(loadAgentConfig({ args: [...required, '--initial-import', 'later'], env: {} }))).toContain('--initial-import must be one of auto, immediate')
    expect(await refusal(loadAgentConfig({ args: [...required, '--tls-cert', 'c.pem'], env: {} }))).toContain('give both --tls-cert and --tls-key')
    expect(await refusal(loadAgentConfig({ args: [...required, '--tls-ca', 'ca.pem'], env: {} }))).toContain('mutual TLS, which needs --tls-cert and --tls-key')
    expect(await refusal(loadAgentConfig({ args: required, env: { REGSYNC_POLL: 'maybe' } }))).toContain('REGSYNC_POLL must be true or false')
    expect(await refusal(loadAgentConfig({ args: [...required, '--listen', '[nope]:70'], env: {} }))).toContain('not an IPv6 address')
    expect(await refusal(loadAgentConfig({ args: [...required, '--listen', 'h:70000'], env: {} }))).toContain('over 65535')
    expect(await refusal(loadAgentConfig({ args: [...required, '--peers-dns', '10.0.0.1'], env: {} }))).toContain('static peer')
    expect(await refusal(loadAgentConfig({ args: [...required, '--cluster', 'a/b'], env: {} }))).toContain('--cluster may hold only')
    expect(await refusal(loadAgentConfig({ args: ['--dir', '/d'], env: {} }))).toBe('missing --data DIR (the data directory)')
    const list = await configFile('list.yml', '- dir\n')
    expect(await refusal(loadAgentConfig({ args: ['--config', list], env: {} }))).toContain('must hold a mapping')
    const broken = await configFile('broken.yml', 'dir: [unclosed\n')
    expect(await refusal(loadAgentConfig({ args: ['--config', broken], env: {} }))).toContain('is not valid YAML or JSON')
    expect(await refusal(loadAgentConfig({ args: ['--config', join(tmpdir(), 'no-such-regsync.yml')], env: {} }))).toContain('no such file')
  })

  it('lists REGSYNC_ variables that name no setting', async () => {
    const config = await loadAgentConfig({ args: required, env: { REGSYNC_PEERS: 'ws://x:1', REGSYNC_URL: 'http://x', HOME: '/root' } })
    expect(config.unknownEnv).toEqual(['REGSYNC_PEERS'])
  })
})

describe('status configuration', () => {
  it('defaults to the local listener, and follows --listen and --tls-cert from a shared config file', async () => {
    expect(await loadStatusConfig({ args: [], env: {} })).toEqual({ url: 'http://127.0.0.1:7070', secretFile: undefined, json: false, tls: {} })
    const file = await configFile('regsync.yml', 'dir: /d\ndata: /x\nlisten: 0.0.0.0:7443\ntls-cert: cert.pem\ntls-key: key.pem\nsecret-file: secret\n')
    const config = await loadStatusConfig({ args: ['--json'], env: { REGSYNC_CONFIG: file } })
    expect(config).toMatchObject({ url: 'https://127.0.0.1:7443', json: true, secretFile: join(file, '..', 'secret') })
    expect(await loadStatusConfig({ args: [], env: { REGSYNC_URL: 'http://cas1:7070/' } })).toMatchObject({ url: 'http://cas1:7070' })
    expect(await loadStatusConfig({ args: ['--url', 'http://flag:1'], env: { REGSYNC_URL: 'http://env:2' } })).toMatchObject({ url: 'http://flag:1' })
    expect(await refusal(loadStatusConfig({ args: ['--url', 'ws://x'], env: {} }))).toContain('--url must be an http:// or https:// URL')
  })
})

describe('--help', () => {
  it('documents every flag with its environment variable, the precedence and the exit codes', () => {
    for (const flag of FLAGS) {
      expect(HELP).toContain(`--${flag.name}`)
      expect(HELP).toContain(envName(flag.name))
    }
    expect(HELP).toMatch(/highest precedence first/)
    expect(HELP).toMatch(/Exit codes/)
    for (const command of ['agent', 'status', 'help', 'version']) expect(HELP).toContain(`  ${command} `)
    for (const line of HELP.split('\n')) expect(line.length, line).toBeLessThanOrEqual(100)
  })
})

describe('docs/configuration.md', () => {
  it('documents every flag with its environment variable', async () => {
    const doc = await readFile(new URL('../../../docs/configuration.md', import.meta.url), 'utf8')
    for (const flag of FLAGS) {
      expect(doc).toContain(`\`--${flag.name}`)
      expect(doc).toContain(`\`${envName(flag.name)}\``)
    }
  })
})
