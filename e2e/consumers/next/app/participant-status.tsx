'use client';

// A participant on the page, shown through useParticipant (@petfl/sdk/react). The coordinator's
// URL comes from the query string (?coordinator=…) or NEXT_PUBLIC_PETFL_COORDINATOR, the model
// length from ?length= (default 16). The page trains "ones": after every global model it hands
// in a model of ones again, so a global model above zero holds its update.

import { type AsyncParticipant, spawnAsyncParticipant } from '@petfl/sdk';
import { useParticipant } from '@petfl/sdk/react';
import { useEffect, useState } from 'react';

interface Received {
  readonly count: number;
  readonly length: number;
  readonly first: number;
}

export function ParticipantStatus() {
  const [participant, setParticipant] = useState<AsyncParticipant | null>(null);
  const [received, setReceived] = useState<Received | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const snapshot = useParticipant(participant);

  useEffect(() => {
    const query = new URLSearchParams(window.location.search);
    const coordinatorUrl = query.get('coordinator') ?? process.env.NEXT_PUBLIC_PETFL_COORDINATOR;
    const length = Number(query.get('length') ?? '16');
    if (coordinatorUrl === undefined || coordinatorUrl === '') {
      setFailure('no coordinator: open the page with ?coordinator=<url>');
      return;
    }
    // Aborting stops the participant (the SDK's `signal` option), also one still being spawned.
    const abort = new AbortController();
    const ones = () => new Float32Array(length).fill(1);
    (async () => {
      const { participant, globalModelNotifier } = await spawnAsyncParticipant(coordinatorUrl, {
        storeKey: 'petfl/next-consumer',
        signal: abort.signal,
        pollMs: 50,
        maxPollMs: 500,
      });
      if (abort.signal.aborted) return;
      setParticipant(participant);
      participant.setLocalModel(ones());
      for (let count = 1; ; count++) {
        await globalModelNotifier.wait(abort.signal);
        const model = await participant.getGlobalModel();
        if (model !== null) setReceived({ count, length: model.length, first: model[0] ?? Number.NaN });
        participant.setLocalModel(ones());
      }
    })().catch((error: unknown) => {
      if (!abort.signal.aborted) setFailure(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
    });
    return () => abort.abort();
  }, []);

  return (
    <section>
      <p data-testid="status">{failure !== null ? 'failed' : snapshot === null ? 'starting' : 'running'}</p>
      {failure !== null && <p data-testid="failure">{failure}</p>}
      {snapshot !== null && (
        <dl>
          <dt>participant</dt>
          <dd data-testid="participant-pk">{snapshot.participantPk}</dd>
          <dt>phase</dt>
          <dd data-testid="phase">{snapshot.phase}</dd>
          <dt>round</dt>
          <dd data-testid="round">{snapshot.roundId ?? 'none'}</dd>
          <dt>task</dt>
          <dd data-testid="task">{snapshot.task}</dd>
          <dt>bytes sent</dt>
          <dd data-testid="bytes-sent">{snapshot.bytesSent}</dd>
          <dt>last error</dt>
          <dd data-testid="last-error">
            {snapshot.lastError === null ? 'none' : `${snapshot.lastError.code}: ${snapshot.lastError.message}`}
          </dd>
        </dl>
      )}
      <dl>
        <dt>global models received</dt>
        <dd data-testid="global-models">{received?.count ?? 0}</dd>
        <dt>latest global model</dt>
        <dd data-testid="global-model">
          {received === null ? 'none' : `${received.length} weights, first ${received.first}`}
        </dd>
      </dl>
    </section>
  );
}
