/**
 * A fleet of worker HTTP servers for the scan benchmark, in a process of its own so the
 * scanning process's memory is measured alone. Address i is 127.0.<1 + ⌊i/250⌋>.<1 + i%250>
 * (loopback only), or the i-th of a JSON array of addresses read from stdin when the size
 * argument is `-` (the addresses moto gave a group's instances). Roles: `hang` accepts and
 * never answers, `refuse` has no listener, `busy`/`idle` answer at once. Prints one JSON line
 * `{ ready: true, port, fleet }` then serves until killed, or until the benchmark that
 * started it (with an IPC channel) goes.
 */
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';

export type Role = 'busy' | 'idle' | 'hang' | 'refuse';

export interface FleetMember {
  address: string;
  role: Role;
}

/** Deterministic roles: 10% hang, 5% refuse, the rest alternate busy/idle (spread evenly). */
export function roleOf(i: number): Role {
  return i % 10 === 3 ? 'hang' : i % 20 === 7 ? 'refuse' : i % 2 === 0 ? 'busy' : 'idle';
}

export function planFleet(size: number): FleetMember[] {
  return Array.from({ length: size }, (_, i) => ({
    address: `127.0.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`,
    role: roleOf(i),
  }));
}

/** The same roles for given addresses (loopback only: anything else is refused). */
export function planFleetAt(addresses: readonly string[]): FleetMember[] {
  return addresses.map((address, i) => {
    if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address)) {
      throw new Error(`not a loopback address: ${address}`);
    }
    return { address, role: roleOf(i) };
  });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function listen(server: Server, host: string, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return (server.address() as { port: number }).port;
}

async function main(): Promise<void> {
  if (process.connected) process.once('disconnect', () => process.exit(0));
  const fleet =
    process.argv[2] === '-'
      ? planFleetAt(JSON.parse(await readStdin()) as string[])
      : planFleet(Number(process.argv[2] ?? 1000));
  const sockets = new Set<Socket>();
  let port = 0;
  for (const member of fleet) {
    if (member.role === 'refuse') continue;
    const server = createServer((_req, res) => {
      if (member.role === 'hang') return; // accept, never answer
      res.end(member.role === 'busy' ? 'BUSY' : 'IDLE');
    });
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    // The first server picks a free port; every other address listens on the same one.
    port = await listen(server, member.address, port);
  }
  process.stdout.write(`${JSON.stringify({ ready: true, port, fleet })}\n`);
}

main().catch((err) => {
  process.stderr.write(`fleet-servers: ${(err as Error).message}\n`);
  process.exit(1);
});
