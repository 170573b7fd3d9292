/**
 * A bad actor in the test process: it posts to `POST /message` what no honest
 * participant sends — garbage, an empty body, a truncated sealed message, a Sum from a
 * key the round did not select, a Sum whose signature belongs to another key, a body
 * over the size limit, and replays of the tabs' own messages — and records the answers.
 * Every one must be refused with a 4xx (protocol.md §3.11). It never sends anything the
 * coordinator would accept, so the honest rounds' aggregates stay exactly theirs.
 */

import {
  decodeRoundParameters,
  initCrypto,
  type PetCrypto,
  type RoundParameters,
  sealMessage,
  selectTask,
} from '@petfl/core';

export interface Answer {
  readonly attack: string;
  readonly status: number;
  readonly code: string | undefined;
}

async function post(url: string, attack: string, body: Uint8Array): Promise<Answer> {
  const response = await fetch(`${url}/message`, {
    method: 'POST',
    body: body as Uint8Array<ArrayBuffer>,
    headers: { 'content-type': 'application/octet-stream' },
  });
  const json = (await response.json().catch(() => ({}))) as { code?: string };
  return { attack, status: response.status, code: json.code };
}

async function params(url: string): Promise<RoundParameters | undefined> {
  const response = await fetch(`${url}/params`);
  return response.status === 200 ? decodeRoundParameters(await response.json()) : undefined;
}

/** A signing key this round's seed does not select for sum (so its Sum is not-eligible). */
function notSumEligible(crypto: PetCrypto, round: RoundParameters) {
  for (;;) {
    const keys = crypto.signingKeyPair();
    const selection = selectTask(crypto, round.seed, keys.secretKey, {
      sum: round.sumProbability,
      update: round.updateProbability,
    });
    if (selection.task !== 'sum') return { keys, sumSignature: selection.sumSignature };
  }
}

/** An error and its causes (fetch's "fetch failed" says why only in `cause`). */
function describe(error: unknown): string {
  const parts: string[] = [];
  for (
    let e: unknown = error;
    e !== undefined && e !== null && parts.length < 4;
    e = (e as { cause?: unknown }).cause
  ) {
    parts.push(e instanceof Error ? `${e.name}: ${e.message}${'code' in e ? ` (${String(e.code)})` : ''}` : String(e));
  }
  return parts.join(' ← ');
}

export class BadActor {
  private readonly crypto: PetCrypto;
  readonly url: string;
  /**
   * Requests that got no answer at all (the connection failed: on a loaded machine a pooled
   * keep-alive connection can close under a request) and were sent again, with the cause.
   * No answer is not an answer: only the answers are checked, and a second failure throws.
   */
  readonly transportErrors: string[] = [];

  private constructor(crypto: PetCrypto, url: string) {
    this.crypto = crypto;
    this.url = url;
  }

  static async create(url: string): Promise<BadActor> {
    return new BadActor(await initCrypto(), url);
  }

  private async post(attack: string, body: Uint8Array): Promise<Answer> {
    try {
      return await post(this.url, attack, body);
    } catch (error) {
      this.transportErrors.push(`${attack}: ${describe(error)}`);
    }
    try {
      return await post(this.url, attack, body);
    } catch (error) {
      throw new Error(`${attack}: no answer twice: ${describe(error)}`, { cause: error });
    }
  }

  /** One volley of every attack; `replays` are genuine messages captured from the tabs. */
  async volley(replays: readonly Uint8Array[] = []): Promise<Answer[]> {
    const { crypto, url } = this;
    const answers: Answer[] = [];
    answers.push(await this.post('garbage', crypto.randomBytes(317)));
    answers.push(await this.post('empty', new Uint8Array(0)));
    answers.push(await this.post('oversized', new Uint8Array(16 * 1024 * 1024 + 1)));
    const round = await params(url);
    if (round !== undefined) {
      const { keys, sumSignature } = notSumEligible(crypto, round);
      const sum = (participantPk: Uint8Array) =>
        sealMessage(
          crypto,
          {
            participantPk,
            coordinatorPk: round.coordinatorPk,
            payload: { kind: 'sum', sum: { sumSignature, ephemeralPk: crypto.encryptKeyPair().publicKey } },
          },
          keys.secretKey,
        );
      const sealed = sum(keys.publicKey);
      answers.push(await this.post('not-eligible sum', sealed));
      answers.push(await this.post('truncated', sealed.subarray(0, sealed.length - 7)));
      answers.push(
        await this.post(
          'one byte flipped',
          sealed.map((b, i) => (i === 40 ? b ^ 1 : b)),
        ),
      );
      answers.push(await this.post('signed by another key', sum(crypto.signingKeyPair().publicKey)));
    }
    for (const [i, message] of replays.entries()) {
      answers.push(await this.post(`replay ${i}`, message));
      answers.push(await this.post(`truncated replay ${i}`, message.subarray(0, Math.max(1, message.length >> 1))));
    }
    return answers;
  }
}
