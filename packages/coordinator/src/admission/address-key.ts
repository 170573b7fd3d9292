/**
 * A client address as a rate-limit key (docs/security.md §2). An IPv6 address
 * counts by its /64 prefix: one host is usually handed a whole /64, so
 * counting single addresses would give it 2^64 budgets. An IPv4-mapped IPv6
 * address (what a dual-stack socket reports for an IPv4 peer) counts as its
 * IPv4 address, so one client has one key whichever way the server listens.
 */

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
const HEXTET = /^[0-9a-f]{1,4}$/;

/**
 * IPv4 as it is (also when IPv4-mapped, `::ffff:1.2.3.4`), IPv6 as its /64 prefix in
 * canonical hex (`2001:db8:0:1::/64`), anything else (`unknown`) as it is.
 */
export function addressKey(address: string): string {
  const plain = address.toLowerCase().replace(/%.*$/, ''); // a zone index (fe80::1%eth0) names no host
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(plain);
  if (mapped !== null) return mapped[1] as string;
  if (!plain.includes(':')) return plain;
  const groups = ipv6Groups(plain);
  return groups === undefined ? plain : `${groups.slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address (hex, no leading zeros), or undefined when it is not one. */
function ipv6Groups(address: string): string[] | undefined {
  const halves = address.split('::');
  if (halves.length > 2) return undefined;
  const compressed = halves.length === 2;
  const parts = (half: string | undefined): string[] => (half === undefined || half === '' ? [] : half.split(':'));
  const head = parts(halves[0]);
  const tail = parts(halves[1]);
  // A trailing dotted IPv4 part (64:ff9b::1.2.3.4) stands for the last two groups.
  const last = compressed ? tail : head;
  if (last.length > 0 && IPV4.test(last[last.length - 1] as string)) last.splice(last.length - 1, 1, '0', '0');
  const missing = 8 - head.length - tail.length;
  if (compressed ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...Array<string>(compressed ? missing : 0).fill('0'), ...tail];
  if (!all.every((g) => HEXTET.test(g))) return undefined;
  return all.map((g) => Number.parseInt(g, 16).toString(16));
}
