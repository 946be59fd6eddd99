import { Document } from 'yaml';
import type { ReaConfig } from '../../config/rea-config.ts';

// The GitHub Actions workflow rea dispatches: the run contract's inputs become the job's environment, the
// output directory is uploaded as the `rea-metrics` artifact, and the title carries the run's identity.

export function renderWorkflow(config: ReaConfig): string {
  const doc = new Document({
    name: 'rea experiment',
    'run-name': 'rea ${{ inputs.run_id }}',
    on: {
      workflow_dispatch: {
        inputs: {
          run_id: { description: "rea's id of the run (plan:run:attempt)", required: true, type: 'string' },
          overrides: {
            description: 'JSON object of knob values over the baseline config',
            required: true,
            type: 'string',
            default: '{}',
          },
          fidelity: {
            description: 'fraction of data or steps, in (0, 1]',
            required: true,
            type: 'string',
            default: '1',
          },
          seed: { description: 'random seed', required: true, type: 'string', default: '0' },
        },
      },
    },
    permissions: { contents: 'read' },
    jobs: {
      train: {
        'runs-on': config.run.runner_labels,
        'timeout-minutes': Math.ceil(config.run.timeout_minutes),
        env: {
          REA_RUN_ID: '${{ inputs.run_id }}',
          REA_OVERRIDES: '${{ inputs.overrides }}',
          REA_FIDELITY: '${{ inputs.fidelity }}',
          REA_SEED: '${{ inputs.seed }}',
          REA_OUTPUT_DIR: '${{ runner.temp }}/rea-output',
        },
        steps: [
          { uses: 'actions/checkout@v4' },
          { name: 'Prepare output directory', run: 'mkdir -p "$REA_OUTPUT_DIR"' },
          { name: 'Train', run: config.run.command },
          {
            name: 'Upload metrics',
            if: 'always()',
            uses: 'actions/upload-artifact@v4',
            with: { name: 'rea-metrics', path: '${{ runner.temp }}/rea-output', 'if-no-files-found': 'warn' },
          },
        ],
      },
    },
  });
  doc.commentBefore =
    ' Dispatched by rea (https://github.com/rea-agent/rea); one run per experiment attempt.';
  return doc.toString({ lineWidth: 0 });
}
