/**
 * Which local address a rank listens on for tcp://. Default: the address this host uses to reach a target
 * (the launcher, or the store's host under Slurm), found by asking the kernel for the route (a UDP socket
 * "connected" to the target sends nothing). `--iface` / TSRUN_IFACE takes an interface name (`eth0`) or an
 * IPv4 range (`198.18.0.0/24`).
 */
import { createSocket } from 'node:dgram'
import { lookup } from 'node:dns/promises'
import { networkInterfaces } from 'node:os'
import { UsageError } from '../errors.ts'
import { setting } from '../settings.ts'

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((a, b) => a * 256 + Number(b), 0)
}

function inRange(ip: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split('/')
  const bits = Number(bitsText)
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(base) || !(bits >= 0 && bits <= 32)) throw new UsageError(`--iface: '${cidr}' is not an IPv4 range like 198.18.0.0/24`)
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0
  return (ipv4ToInt(ip) & mask) >>> 0 === (ipv4ToInt(base) & mask) >>> 0
}

function localAddresses(): { iface: string; address: string }[] {
  return Object.entries(networkInterfaces()).flatMap(([iface, list]) =>
    (list ?? []).filter((a) => a.family === 'IPv4').map((a) => ({ iface, address: a.address })),
  )
}

/** The address of an interface name or an address range; a UsageError listing what exists if none fits. */
export function addressForIface(spec: string): string {
  const all = localAddresses()
  const hit = spec.includes('/') ? all.find((a) => inRange(a.address, spec)) : all.find((a) => a.iface === spec)
  if (!hit) {
    throw new UsageError(
      `--iface ${spec}: no IPv4 address on this host (${hostLabel()}) fits; it has ${all.map((a) => `${a.iface} ${a.address}`).join(', ') || 'none'}`,
    )
  }
  return hit.address
}

function hostLabel(): string {
  return setting('TSRUN_HOST') ?? 'this host'
}

/** The local address the kernel would use to send to `target` (a host name or address). */
export async function addressToward(target: string): Promise<string> {
  const { address: ip } = await lookup(target, { family: 4 })
  return new Promise((resolve, reject) => {
    const sock = createSocket('udp4')
    sock.once('error', (err) => {
      sock.close()
      reject(new UsageError(`cannot find a route from this host to ${target} (${ip}): ${err.message}; pass --iface`))
    })
    sock.connect(9, ip, () => {
      const { address } = sock.address()
      sock.close()
      resolve(address)
    })
  })
}

/** Address to bind tcp:// on: by --iface if given, else toward `target`, else loopback. */
export async function bindAddress(iface: string | undefined, target: string | undefined): Promise<string> {
  if (iface) return addressForIface(iface)
  if (target) return addressToward(target)
  return '127.0.0.1'
}

/** True if `name` is this machine (its host name, localhost, or an address of one of its interfaces). */
export async function isLocalHost(name: string, myHostname: string): Promise<boolean> {
  if (name === 'localhost' || name === myHostname || name === myHostname.split('.')[0]) return true
  try {
    const { address } = await lookup(name, { family: 4 })
    return address.startsWith('127.') || localAddresses().some((a) => a.address === address)
  } catch {
    return false
  }
}
