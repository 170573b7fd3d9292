/**
 * Whether a coordinator URL sends the participant's traffic in the clear
 * over a network: plain `http:` to a host that is not loopback. The messages
 * are sealed to the round key either way (docs/protocol.md §3.2), but the
 * admission token, the round parameters and every answer are not — anyone on
 * the path could read the token or forge the parameters. Loopback
 * (127.0.0.0/8, ::1, localhost) never leaves the machine, so development
 * setups stay quiet.
 *
 * Parsed by hand (the platform's `URL` is not on every platform the SDK runs on).
 */

/** The host of an `http:` URL whose host is not loopback; undefined for https or loopback. */
export function plainHttpHost(url: string): string | undefined {
  const match = /^http:\/\/([^/?#]*)/i.exec(url);
  if (match === null) return undefined;
  const authority = (match[1] as string).replace(/^.*@/, ''); // userinfo is not the host
  const host = authority.startsWith('[')
    ? authority.slice(0, authority.indexOf(']') + 1)
    : authority.replace(/:\d*$/, '');
  return isLoopbackHost(host) ? undefined : host;
}

/** 127.0.0.0/8, ::1 (bracketed or not, short or long form) or localhost. */
export function isLoopbackHost(host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  if (name === 'localhost') return true;
  const ipv4 = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(name);
  if (ipv4 !== null) return ipv4.slice(1).every((octet) => Number(octet) <= 255);
  const ipv6 = name.startsWith('[') && name.endsWith(']') ? name.slice(1, -1) : name;
  return /^(?:0{0,4}:){2,7}0{0,3}1$/.test(ipv6) && ipv6 !== ':1' && isIpv6One(ipv6);
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
