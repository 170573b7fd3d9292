import { ParticipantStatus } from './participant-status';

export default function Home() {
  return (
    <main>
      <h1>petfl participant</h1>
      <ParticipantStatus />
    </main>
  );
}
