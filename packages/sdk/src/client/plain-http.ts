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

import { isLoopbackHost } from '@petfl/core';

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
