/**
 * The metrics port: what the app needs to serve `GET /metrics`.
 * An implementation is fed by the coordinator's events (`CoordinatorEvents`,
 * which the app also calls for the messages it refuses before the coordinator
 * sees them), may read the coordinator's status when scraped, and renders its
 * own text format. The core ships none — without one, `GET /metrics` answers
 * 404 — and `@petfl/coordinator/prometheus` implements it with prom-client.
 */

import type { Coordinator, CoordinatorEvents } from './state-machine/coordinator.ts';

/** The body of `GET /metrics` and its content type. */
export interface MetricsText {
  readonly body: string;
  readonly contentType: string;
}

export interface CoordinatorMetrics {
  /** The hooks to feed: every event of the coordinator, plus the app's refusals (`messageRejected`). */
  readonly events: CoordinatorEvents;
  /** Called once the coordinator has started, so that gauges can read its status when scraped. */
  watch(coordinator: Coordinator): void;
  /** What a scrape answers. */
  render(): Promise<MetricsText>;
}
