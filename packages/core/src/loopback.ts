/**
 * Whether a host name or address is loopback: 127.0.0.0/8, ::1 in its written forms (bracketed
 * or not, also IPv4-mapped ::ffff:127.x.y.z) and localhost (or a name under it). The coordinator's
 * start-up checks and the SDK's plain-http warning both ask it (docs/security.md §6). Parsed by
 * hand: the platform's `URL` is not on every platform the SDK runs on.
 */

export function isLoopbackHost(host: string): boolean {
  const name = host.trim().toLowerCase().replace(/\.$/, '');
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  const address = name.startsWith('[') && name.endsWith(']') ? name.slice(1, -1) : name;
  const ipv4 = /^(?:::ffff:)?127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(address);
  if (ipv4 !== null) return ipv4.slice(1).every((octet) => Number(octet) <= 255);
  return /^(?:0{0,4}:){2,7}0{0,3}1$/.test(address) && isIpv6One(address);
}

/** `::1`, `0:0:0:0:0:0:0:1` and the forms between them. */
function isIpv6One(address: string): boolean {
  const halves = address.split('::');
  if (halves.length > 2) return false;
  const groups = halves.flatMap((half) => (half === '' ? [] : half.split(':')));
  if (halves.length === 1 && groups.length !== 8) return false;
  if (halves.length === 2 && groups.length > 7) return false;
  const last = groups[groups.length - 1];
  return last !== undefined && Number.parseInt(last, 16) === 1 && groups.slice(0, -1).every((g) => /^0{1,4}$/.test(g));
}
