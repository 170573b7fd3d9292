/**
 * @petfl/coordinator/prometheus — Prometheus metrics for `GET /metrics`, fed by
 * the coordinator's events: pass `new PrometheusMetrics()` as `metrics` to
 * `createCoordinatorApp` (`@petfl/coordinator/node` does by default).
 * Re-exports only.
 */

export { PrometheusMetrics } from './prometheus-metrics.ts';
