/**
 * The demo's start page: links to three participant tabs (shards 0..2, each
 * a different slice of MNIST) and the dashboard, for the coordinator named in
 * `?coordinator=` (the dashboard asks for the admin token itself).
 */

import { DEMO_SHARDS, DEMO_TABS } from './demo.ts';
import { DEFAULT_COORDINATOR } from './params.ts';
import './style.css';

const query = new URLSearchParams(location.search);
const coordinator = query.get('coordinator') ?? DEFAULT_COORDINATOR;

function link(href: string, text: string): HTMLLIElement {
  const li = document.createElement('li');
  const a = document.createElement('a');
  a.href = href;
  a.target = '_blank';
  a.textContent = text;
  li.append(a);
  return li;
}

const participants = document.getElementById('participants');
for (let shard = 0; shard < DEMO_TABS; shard++) {
  const q = new URLSearchParams({ coordinator, shard: String(shard), shards: String(DEMO_SHARDS) });
  participants?.append(link(`participant.html?${q}`, `participant ${shard} (shard ${shard} of ${DEMO_SHARDS}, IID)`));
}
for (let shard = 0; shard < DEMO_TABS; shard++) {
  const q = new URLSearchParams({ coordinator, shard: String(shard), shards: String(DEMO_SHARDS), split: 'noniid' });
  participants?.append(link(`participant.html?${q}`, `participant ${shard}, non-IID (label-skewed)`));
}
document
  .getElementById('operator')
  ?.append(link(`dashboard.html?${new URLSearchParams({ coordinator })}`, 'dashboard'));
