/**
 * Prometheus metrics (`GET /metrics`) via prom-client: the metrics port
 * (`CoordinatorMetrics`, ../metrics.ts) for Node. Each instance has a registry
 * of its own (two coordinators in one process, as in tests, never share one).
 * Counters and histograms are fed by the coordinator's events — the app's
 * refusals before the coordinator arrive as `messageRejected` too; the gauges
 * read its status when scraped.
 */

import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CoordinatorMetrics, MetricsText } from '../metrics.ts';
import type { Coordinator, CoordinatorEvents } from '../state-machine/coordinator.ts';

export class PrometheusMetrics implements CoordinatorMetrics {
  readonly registry = new Registry();
  private coordinator: Coordinator | undefined;

  private readonly rounds = new Counter({
    name: 'petfl_rounds_total',
    help: 'Rounds ended, by outcome (completed or failed).',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  private readonly phaseDuration = new Histogram({
    name: 'petfl_phase_duration_seconds',
    help: 'Duration of ended phases (sum, update, sum2, unmask).',
    labelNames: ['phase'],
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
    registers: [this.registry],
  });
  private readonly accepted = new Counter({
    name: 'petfl_messages_accepted_total',
    help: 'Accepted POST /message bodies, by kind (sum, update, sum2, or chunk of a multipart message).',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  private readonly rejected = new Counter({
    name: 'petfl_messages_rejected_total',
    help: 'Rejected POST /message bodies, by error code.',
    labelNames: ['code'],
    registers: [this.registry],
  });
  private readonly bytesIn = new Counter({
    name: 'petfl_message_bytes_total',
    help: 'Bytes received in POST /message bodies (accepted or not).',
    registers: [this.registry],
  });

  private readonly seedReads = new Counter({
    name: 'petfl_seed_dictionary_reads_total',
    help: 'GET /seeds answered with a seed dictionary, by dictionary: final, or so-far (the seeds accepted so far, read while the update phase runs: ADR 0017).',
    labelNames: ['dictionary'],
    registers: [this.registry],
  });

  constructor() {
    const metrics = this;
    new Gauge({
      name: 'petfl_participants',
      help: 'Accepted participants per phase in the round in progress.',
      labelNames: ['phase'],
      registers: [this.registry],
      collect() {
        const counts = metrics.coordinator?.status().counts ?? { sum: 0, update: 0, sum2: 0 };
        for (const [phase, n] of Object.entries(counts)) this.set({ phase }, n);
      },
    });
    new Gauge({
      name: 'petfl_round_id',
      help: 'Id of the round in progress (0 when none).',
      registers: [this.registry],
      collect() {
        this.set(metrics.coordinator?.status().roundId ?? 0);
      },
    });
    new Gauge({
      name: 'petfl_leader',
      help: 'Whether this instance leads (1) or follows (0) on its store (ADR 0008); alone it always leads.',
      registers: [this.registry],
      collect() {
        this.set(metrics.coordinator?.status().role === 'follower' ? 0 : 1);
      },
    });
    new Gauge({
      name: 'petfl_phase_waiters',
      help: 'GET /phase long polls held right now (at most api.max_phase_waiters).',
      registers: [this.registry],
      collect() {
        this.set(metrics.coordinator?.phaseWaiters() ?? 0);
      },
    });
    new Gauge({
      name: 'petfl_run_round',
      help: 'Completed training rounds of the run (docs/learning.md); 0 without a run.',
      registers: [this.registry],
      collect() {
        this.set(metrics.coordinator?.status().run?.round ?? 0);
      },
    });
    new Gauge({
      name: 'petfl_run_ended',
      help: 'Whether the training run has ended (1: by its rounds or early stopping).',
      registers: [this.registry],
      collect() {
        this.set(metrics.coordinator?.status().run?.status === 'ended' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'petfl_run_epsilon',
      help: 'ε spent by the run so far at its δ (differential privacy, docs/privacy.md); 0 without.',
      registers: [this.registry],
      collect() {
        this.set(metrics.coordinator?.status().run?.privacy?.epsilon ?? 0);
      },
    });
    new Gauge({
      name: 'petfl_run_privacy_rho',
      help: 'ρ of the zCDP the run has spent (dpsa4fl reports ε²/2-zCDP: ε = √(2ρ)); 0 without privacy or when the accountant gives none.',
      registers: [this.registry],
      collect() {
        this.set(metrics.coordinator?.status().run?.privacy?.rho ?? 0);
      },
    });
    new Gauge({
      name: 'petfl_run_clip_norm',
      help: 'The clip norm C the next round announces (moves each round with adaptive clipping, docs/privacy.md §2); 0 without privacy.',
      registers: [this.registry],
      collect() {
        this.set(metrics.coordinator?.status().run?.privacy?.clipNorm ?? 0);
      },
    });
    new Gauge({
      name: 'petfl_run_metric',
      help: 'The latest federated evaluation of the run: the example-weighted mean of each metric.',
      labelNames: ['metric'],
      registers: [this.registry],
      collect() {
        this.reset();
        const values = metrics.coordinator?.runEvaluation()?.values;
        for (const [metric, value] of Object.entries(values ?? {})) this.set({ metric }, value);
      },
    });
    new Gauge({
      name: 'petfl_phase',
      help: 'The current phase: 1 for the phase the coordinator is in, 0 for the others.',
      labelNames: ['phase'],
      registers: [this.registry],
      collect() {
        const current = metrics.coordinator?.status().phase ?? 'idle';
        for (const phase of ['idle', 'sum', 'update', 'sum2', 'unmask', 'shutdown']) {
          this.set({ phase }, phase === current ? 1 : 0);
        }
      },
    });
  }

  /** The event hooks to feed (`createCoordinatorApp` passes them to the coordinator and the app). */
  readonly events: CoordinatorEvents = {
    messageAccepted: (kind, bytes) => {
      this.accepted.inc({ kind });
      this.bytesIn.inc(bytes);
    },
    messageRejected: (code, bytes) => {
      this.rejected.inc({ code });
      this.bytesIn.inc(bytes);
    },
    phaseEnded: (phase, ms) => this.phaseDuration.observe({ phase }, ms / 1000),
    roundEnded: (summary) => this.rounds.inc({ outcome: summary.outcome }),
    seedDictionaryRead: (dictionary) => this.seedReads.inc({ dictionary }),
  };

  /** Lets the gauges read the coordinator's status. */
  watch(coordinator: Coordinator): void {
    this.coordinator = coordinator;
  }

  /** The Prometheus text exposition of every metric. */
  async render(): Promise<MetricsText> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}
