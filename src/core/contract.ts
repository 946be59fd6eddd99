// The experiment contract (.rea.yml, DESIGN section 3) as plain types: the ground floor that the decision code
// builds on. `config/rea-config.ts` parses YAML into exactly these shapes with zod and checks at compile time
// that its schema and these types agree, so a schema change that core has not agreed to fails the build.

export type KnobValue = string | number | boolean;
export type KnobValues = Record<string, KnobValue>;

export interface FloatKnob {
  type: 'float';
  min: number;
  max: number;
  log: boolean;
}

export interface IntKnob {
  type: 'int';
  min: number;
  max: number;
  step: number;
}

export interface ChoiceKnob {
  type: 'choice';
  values: (string | number)[];
}

export interface BoolKnob {
  type: 'bool';
}

export type Knob = FloatKnob | IntKnob | ChoiceKnob | BoolKnob;

export type MetricGoal = 'minimize' | 'maximize';

export interface Guardrail {
  metric: string;
  min?: number | undefined;
  max?: number | undefined;
}

/** Fractions of full training per phase, non-decreasing from validation to exploitation. */
export interface PhaseFidelity {
  validation: number;
  combination: number;
  exploitation: number;
}

export type PhaseSeeds = PhaseFidelity;

export interface ReaConfig {
  model: string;
  tags: string[];
  metric: { name: string; goal: MetricGoal; min_effect: number };
  guardrails: Guardrail[];
  baseline: { config_file: string };
  knobs: Record<string, Knob>;
  editable: string[];
  run: {
    command: string;
    workflow: string;
    runner_labels: string[];
    gpus: number;
    usd_per_gpu_hour: number;
    timeout_minutes: number;
    baseline_gpu_hours: number;
    /**
     * Minutes of a run's wall time paid at any fidelity (runner pick-up, checkout, start-up, data loading,
     * evaluation): the fixed part of the cost prior. Absent: 3 minutes, or a tenth of a full run if shorter.
     */
    overhead_minutes?: number | undefined;
  };
  fidelity: PhaseFidelity;
  seeds: PhaseSeeds;
  budget: { max_gpu_hours: number; max_concurrent_runs: number };
  approvers: { github: string[]; slack: string[] };
  slack?: { channel: string } | undefined;
}
