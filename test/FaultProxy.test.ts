import { createServer, connect } from 'node:net'
import type { Server, Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { FaultProxy } from './helpers/FaultProxy.js'
import { freePort } from './helpers/cluster.js'
import { waitFor } from './helpers/fs.js'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** An echo server on 127.0.0.1 port 0 that counts what it accepts. */
async function echoServer(): Promise<{ server: Server; port: number; accepted: () => number }> {
  let accepted = 0
  const sockets = new Set<Socket>()
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    accepted++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    socket.pipe(socket)
  })
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, () => resolve()))
  cleanups.push(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no address')
  return { server, port: address.port, accepted: () => accepted }
}

async function proxyTo(port: number): Promise<FaultProxy> {
  const proxy = new FaultProxy({ targetPort: port, name: 'test' })
  cleanups.push(() => proxy.close())
  await proxy.start()
  return proxy
}

/** A client of the proxy that collects what it receives and how it ended. */
interface Client {
  readonly socket: Socket
  received: () => string
  readonly closed: Promise<{ hadError: boolean; ended: boolean }>
}

async function client(port: number): Promise<Client> {
  const socket = connect({ host: '127.0.0.1', port })
  let text = ''
  let ended = false
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => {
    text += chunk
  })
  socket.on('end', () => {
    ended = true
  })
  socket.on('error', () => {})
  const closed = new Promise<{ hadError: boolean; ended: boolean }>((resolve) => socket.on('close', (hadError) => resolve({ hadError, ended })))
  cleanups.push(async () => {
    socket.destroy()
  })
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  return { socket, received: () => text, closed }
}

async function roundTrip(c: Client, message: string, timeoutMs = 5_000): Promise<number> {
  const before = c.received().length
  const started = performance.now()
  c.socket.write(message)
  await waitFor(`echo of ${JSON.stringify(message)}`, () => c.received().length >= before + message.length, timeoutMs)
  expect(c.received().slice(before)).toBe(message)
  return performance.now() - started
}

describe('FaultProxy', () => {
  it('forwards bytes both ways and counts connections and bytes', async () => {
    const echo = await echoServer()
    const proxy = await proxyTo(echo.port)
    expect(proxy.port).toBeGreaterThan(0)
    expect(proxy.port).not.toBe(echo.port)
    const c = await client(proxy.port)
    await roundTrip(c, 'hello through the proxy')
    const big = 'x'.repeat(3 * 1024 * 1024)
    await roundTrip(c, big, 15_000)
    expect(proxy.accepted).toBe(1)
    expect(proxy.connections).toBe(1)
    expect(proxy.bytesToTarget).toBe(23 + big.length)
    expect(proxy.bytesToClient).toBe(23 + big.length)
    expect(proxy.bytesForwarded).toBe(2 * (23 + big.length))
    c.socket.end()
    await c.closed
    await waitFor('the proxy to forget the closed connection', () => proxy.connections === 0, 5_000)
  })

  it('forwards a half-close after the bytes before it', async () => {
    const echo = await echoServer()
    const proxy = await proxyTo(echo.port)
    proxy.setLatency(30)
    const c = await client(proxy.port)
    c.socket.end('last words')
    expect(await c.closed).toEqual({ hadError: false, ended: true })
    expect(c.received()).toBe('last words')
  })

  it('cut() drops open connections and closes new ones before they reach the target; heal() lets them through', async () => {
    const echo = await echoServer()
    const proxy = await proxyTo(echo.port)
    const first = await client(proxy.port)
    await roundTrip(first, 'before the cut')
    expect(echo.accepted()).toBe(1)

    proxy.cut()
    expect(proxy.isCut).toBe(true)
    await first.closed
    expect(proxy.connections).toBe(0)

    // While cut, a connection is accepted by the kernel but closed at once, and nothing reaches the target.
    const during = connect({ host: '127.0.0.1', port: proxy.port })
    during.on('error', () => {})
    let got = ''
    during.on('data', (chunk: Buffer) => {
      got += chunk.toString('utf8')
    })
    during.write('ignored')
    await new Promise<void>((resolve) => during.on('close', () => resolve()))
    expect(got).toBe('')
    expect(proxy.refused).toBe(1)
    expect(echo.accepted()).toBe(1)

    proxy.heal()
    expect(proxy.isCut).toBe(false)
    const after = await client(proxy.port)
    await roundTrip(after, 'after the heal')
    expect(echo.accepted()).toBe(2)
    expect(proxy.accepted).toBe(2)
  })

  it('delays each chunk in each direction by the latency, keeping order', async () => {
    const echo = await echoServer()
    const proxy = await proxyTo(echo.port)
    const c = await client(proxy.port)
    const fast = await roundTrip(c, 'warm-up')
    proxy.setLatency(150)
    const slow = await roundTrip(c, 'slow')
    // 150 ms each way; timers never fire early.
    expect(slow).toBeGreaterThanOrEqual(295)
    expect(slow).toBeGreaterThan(fast)

    // Many small writes while the latency drops: they arrive complete and in order.
    const parts = Array.from({ length: 200 }, (_, i) => `<${i}>`)
    const before = c.received().length
    for (const part of parts.slice(0, 100)) c.socket.write(part)
    // The first half now waits in the proxy; the second half must not overtake it.
    await new Promise((resolve) => setTimeout(resolve, 50))
    proxy.setLatency(0)
    for (const part of parts.slice(100)) c.socket.write(part)
    const expected = parts.join('')
    await waitFor('200 ordered parts', () => c.received().length >= before + expected.length, 5_000)
    expect(c.received().slice(before)).toBe(expected)

    const back = await roundTrip(c, 'fast again')
    expect(back).toBeLessThan(150)
  })

  it('closes the client when the target refuses, as a link to a stopped node would', async () => {
    const port = await freePort()
    const proxy = await proxyTo(port)
    const c = await client(proxy.port)
    await c.closed
    await waitFor('the proxy to record the refused target', () => proxy.lastError !== undefined, 5_000)
    expect((proxy.lastError as NodeJS.ErrnoException).code).toBe('ECONNREFUSED')
    expect(proxy.connections).toBe(0)
  })

  it('closes new connections beyond maxConnections', async () => {
    const echo = await echoServer()
    const proxy = new FaultProxy({ targetPort: echo.port, maxConnections: 2 })
    cleanups.push(() => proxy.close())
    await proxy.start()
    const a = await client(proxy.port)
    const b = await client(proxy.port)
    await roundTrip(a, 'a')
    await roundTrip(b, 'b')
    const c = await client(proxy.port)
    await c.closed
    expect(proxy.refused).toBe(1)
    await roundTrip(a, 'a still works')
  })

  it('close() drops every connection, frees its port and is idempotent', async () => {
    const echo = await echoServer()
    const proxy = await proxyTo(echo.port)
    const c = await client(proxy.port)
    await roundTrip(c, 'open')
    proxy.setLatency(1_000)
    c.socket.write('queued behind a long latency')
    await Promise.all([proxy.close(), proxy.close()])
    await c.closed
    expect(proxy.connections).toBe(0)
    const refused = connect({ host: '127.0.0.1', port: proxy.port })
    const error = await new Promise<NodeJS.ErrnoException>((resolve) => refused.on('error', resolve))
    expect(error.code).toBe('ECONNREFUSED')
  })
})
