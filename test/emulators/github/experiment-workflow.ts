// A workflow with rea's experiment contract (DESIGN section 3): dispatched with the run's inputs, titled
// `rea <run_id>` so a run can be found by title when the dispatch response carries no run id, uploading
// $REA_OUTPUT_DIR as `rea-metrics`. Tests put it at .github/workflows/rea-experiment.yml of an emulated
// repo until the project ships its own template; then they should use that file instead.

export const EXPERIMENT_WORKFLOW_PATH = '.github/workflows/rea-experiment.yml';

export const EXPERIMENT_WORKFLOW = `name: rea experiment
run-name: rea \${{ inputs.run_id }}
on:
  workflow_dispatch:
    inputs:
      run_id:
        description: rea run id
        required: true
        type: string
      overrides:
        description: JSON object of knob values
        required: false
        type: string
        default: '{}'
      fidelity:
        description: fraction of the data, in (0, 1]
        required: false
        type: string
        default: '1'
      seed:
        description: integer seed
        required: false
        type: string
        default: '0'
jobs:
  train:
    name: train
    runs-on: [self-hosted, gpu]
    timeout-minutes: 720
    env:
      REA_RUN_ID: \${{ inputs.run_id }}
      REA_OVERRIDES: \${{ inputs.overrides }}
      REA_FIDELITY: \${{ inputs.fidelity }}
      REA_SEED: \${{ inputs.seed }}
      REA_OUTPUT_DIR: \${{ runner.temp }}/rea-output
    steps:
      - uses: actions/checkout@v4
      - name: Train
        run: node --import tsx train.ts
      - name: Upload metrics
        if: success()
        uses: actions/upload-artifact@v4
        with:
          name: rea-metrics
          path: \${{ runner.temp }}/rea-output
`;
