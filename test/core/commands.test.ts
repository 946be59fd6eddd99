import { describe, expect, it } from 'vitest';
import { type CommandContext, parseCommand, parseComment } from '../../src/core/commands.ts';

const slack: CommandContext = { surface: 'slack' };
const pr: CommandContext = { surface: 'github', repo: 'acme/ctr', plan: 'ctr-ranker-a1b2c3' };
const issue: CommandContext = { surface: 'github', repo: 'acme/ctr' };

describe('the /rea command grammar', () => {
  it.each([
    [
      'plan acme/ctr-ranker reduce NE on new users',
      slack,
      { type: 'plan', repo: 'acme/ctr-ranker', goal: 'reduce NE on new users' },
    ],
    ['plan reduce NE', issue, { type: 'plan', repo: 'acme/ctr', goal: 'reduce NE' }],
    ['approve ctr-ranker-a1b2c3', slack, { type: 'approve', plan: 'ctr-ranker-a1b2c3' }],
    ['approve', pr, { type: 'approve', plan: 'ctr-ranker-a1b2c3' }],
    ['reject too expensive', pr, { type: 'reject', plan: 'ctr-ranker-a1b2c3', reason: 'too expensive' }],
    ['reject p9 no', slack, { type: 'reject', plan: 'p9', reason: 'no' }],
    ['budget +50', pr, { type: 'budget', plan: 'ctr-ranker-a1b2c3', gpuHours: 50 }],
    ['budget ctr-ranker-ffffff +12.5', slack, { type: 'budget', plan: 'ctr-ranker-ffffff', gpuHours: 12.5 }],
    ['PAUSE', pr, { type: 'pause', plan: 'ctr-ranker-a1b2c3' }],
    ['status', slack, { type: 'status' }],
    ['insights acme/ctr learning rate', slack, { type: 'insights', repo: 'acme/ctr', text: 'learning rate' }],
    ['digest now', slack, { type: 'digest', now: true }],
    ['init', issue, { type: 'init' }],
  ] as const)('%s', (text, ctx, command) => {
    expect(parseCommand(text, ctx)).toEqual({ kind: 'command', command });
  });

  it.each([
    ['plan', slack, 'Which repository? Usage: /rea plan <owner/repo> <goal>'],
    ['plan acme/ctr', slack, 'What is the goal? Usage: /rea plan <owner/repo> <goal>'],
    ['approve', slack, 'Which plan? Usage: /rea approve <plan>'],
    ['budget 50', pr, "'50' is not an amount like +50. Usage: /rea budget [plan] +<gpu-hours>"],
    ['budget +0', pr, 'The amount must be more than 0. Usage: /rea budget [plan] +<gpu-hours>'],
    ['digest later', slack, "Unexpected 'later'. Usage: /rea digest [now]"],
  ] as const)('%s answers with the usage line', (text, ctx, reply) => {
    expect(parseCommand(text, ctx)).toEqual({ kind: 'reply', text: reply });
  });

  it('answers help and unknown verbs with the command list', () => {
    const help = parseCommand('', slack);
    expect(help.kind === 'reply' && help.text).toContain('/rea plan <owner/repo> <goal>');
    const unknown = parseCommand('frobnicate', pr);
    expect(unknown.kind === 'reply' && unknown.text).toMatch(/^Unknown command 'frobnicate'/);
    expect(unknown.kind === 'reply' && unknown.text).toContain('/rea init');
  });

  it('finds the command line of a comment and ignores quotes, code and other comments', () => {
    expect(parseComment('Looks good.\n/rea approve\nthanks', pr)).toEqual({
      kind: 'command',
      command: { type: 'approve', plan: 'ctr-ranker-a1b2c3' },
    });
    expect(parseComment('> /rea approve', pr)).toEqual({ kind: 'ignore' });
    expect(parseComment('```\n/rea approve\n```', pr)).toEqual({ kind: 'ignore' });
    expect(parseComment('LGTM', pr)).toEqual({ kind: 'ignore' });
    expect(parseComment('/reactor is broken', pr)).toEqual({ kind: 'ignore' });
  });
});
