import { ProbotOctokit } from 'probot';

// Probot's Octokit throttles writes (one per second, and one content-creating request such as a comment or
// a pull request every three seconds) through limiters shared by every instance in the process. Against
// the emulator that only slows tests down. `{ throttle: { enabled: false } }` passed as plain defaults is
// not enough inside a Probot app: Probot layers its own `throttle` options on top and they replace the
// whole object, so this class forces `enabled: false` after every other layer has been applied.
export const UnthrottledProbotOctokit = ProbotOctokit.defaults((options: { throttle?: object }) => ({
  ...options,
  throttle: { ...options.throttle, enabled: false },
}));
