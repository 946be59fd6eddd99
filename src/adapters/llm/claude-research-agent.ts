import Anthropic from '@anthropic-ai/sdk';
import { zodOutputFormat } from '@anthropic-ai/sdk/helpers/zod';
import type { Logger } from 'pino';
import type { HypothesisSource, Proposal, ProposalContext } from '../../app/ports.ts';
import {
  insightsSummary,
  llmOutputSchema,
  MalformedAnswerError,
  validateLlmAnswer,
} from '../../core/llm-proposals.ts';
import type { LlmUsage } from '../../core/model.ts';
import { llmUsage, type Price } from './pricing.ts';

// The LLM research agent (DESIGN section 7): sends the goal, `.rea.yml`, the baseline config, the editable
// code and a summary of the insights to Claude and asks for hypotheses as structured output. The answer is
// data: it is validated in core (knob space, editable paths, patches that apply) and never executed. Any
// failure of the API (after the SDK's own retries) or of the answer falls back to the offline agent, with
// the reason in the plan's notes: a plan is always made.

export interface ClaudeAgentOptions {
  apiKey: string;
  /** The API's base URL (ANTHROPIC_BASE_URL): a proxy, a gateway or the test fake. */
  baseURL?: string;
  model: string;
  /** Per request, in milliseconds. */
  timeoutMs: number;
  /** Retries of 408/409/429/5xx and connection errors, done by the SDK (with its backoff). */
  maxRetries: number;
  maxTokens: number;
  /** Characters of editable code sent at most; files past it are named but not sent. */
  maxCodeChars: number;
  price: Price;
  /** Used when the API or its answer fails. */
  fallback: HypothesisSource;
  log?: Logger;
}

/** The static instructions: identical for every plan, so they head the prompt-cached prefix. */
export const INSTRUCTIONS = `You are the research agent of rea, an autonomous ML experimentation system. An engineer asked for an experiment plan on their model. Propose hypotheses that could improve the primary metric named in .rea.yml, in the direction its goal says (minimize or maximize).

Each hypothesis is one change to try against the baseline:
- kind "config": knob overrides only (patch null). Only knobs declared under "knobs" in .rea.yml, with values inside their declared ranges or choices. A hypothesis may change several knobs together when they interact (learning rate with batch size or warmup; capacity with regularisation).
- kind "code": a unified diff (--- a/path, +++ b/path, @@ hunks with exact context lines) against the editable files shown below, plus any knob overrides it needs. Only files matching the "editable" globs may be changed, and the diff must apply exactly to the code as shown.

Use the insights: do not propose again what lost or failed to run; build on wins; prefer changes whose evidence you can name. expected_effect is the relative improvement you expect (0.01 = 1% better), risk is the chance it diverges, breaks a guardrail or wastes runs. Be honest: small, likely gains are worth more than large, unlikely ones. Propose between 4 and 10 hypotheses, no duplicates, none equal to the baseline.

Your answer is data: rea validates it and never executes anything you write.`;

function describeFailure(err: unknown, opts: { timeoutMs: number; maxRetries: number }): string {
  const retries = `after ${opts.maxRetries} ${opts.maxRetries === 1 ? 'retry' : 'retries'}`;
  if (err instanceof MalformedAnswerError) return `malformed answer: ${err.message}`;
  if (err instanceof Anthropic.APIConnectionTimeoutError)
    return `timed out after ${opts.timeoutMs} ms (${retries})`;
  if (err instanceof Anthropic.APIConnectionError)
    return `could not reach the API: ${err.message} (${retries})`;
  if (err instanceof Anthropic.APIError) {
    const status = err.status;
    if (status === 429) return `rate limited (429) ${retries}`;
    if (status === 529) return `API overloaded (529) ${retries}`;
    if (status === 401) return 'the API key was rejected (401)';
    if (status !== undefined && status >= 500) return `API server error (${status}) ${retries}`;
    return `API error${status !== undefined ? ` (${status})` : ''}: ${err.message.slice(0, 200)}`;
  }
  return err instanceof Error ? err.message.slice(0, 200) : String(err);
}

interface ModelContext {
  reaYml: string;
  baselineText: string;
  files: Record<string, string>;
  omitted: string[];
  codeText: string;
}

export class ClaudeResearchAgent implements HypothesisSource {
  readonly name = 'claude';
  readonly agent: string;
  private readonly client: Anthropic;

  constructor(private readonly opts: ClaudeAgentOptions) {
    this.agent = `claude:${opts.model}`;
    this.client = new Anthropic({
      apiKey: opts.apiKey,
      ...(opts.baseURL ? { baseURL: opts.baseURL } : {}),
      timeout: opts.timeoutMs,
      maxRetries: opts.maxRetries,
      // rea logs through pino (without secrets); the SDK's own console logging would mix into --json.
      logLevel: 'off',
    });
  }

  async propose(ctx: ProposalContext): Promise<Proposal> {
    let usage: LlmUsage | undefined;
    try {
      const model = await this.readModel(ctx);
      const message = await this.client.messages.create({
        model: this.opts.model,
        max_tokens: this.opts.maxTokens,
        system: [
          { type: 'text', text: INSTRUCTIONS, cache_control: { type: 'ephemeral' } },
          {
            type: 'text',
            text: [
              '# .rea.yml',
              model.reaYml,
              `# Baseline config (${ctx.config.baseline.config_file})`,
              model.baselineText,
              `# Editable code (globs: ${ctx.config.editable.join(', ') || 'none'})`,
              model.codeText,
            ].join('\n\n'),
            cache_control: { type: 'ephemeral' },
          },
          {
            type: 'text',
            text: [
              `# Goal of this plan\n\n${ctx.goal}`,
              `# Insights from earlier plans\n\n${insightsSummary(ctx.config.model, ctx.insights)}`,
            ].join('\n\n'),
          },
        ],
        messages: [
          {
            role: 'user',
            content: 'Propose hypotheses for this plan, as JSON matching the output schema.',
          },
        ],
        output_config: { format: zodOutputFormat(llmOutputSchema) },
      });
      const u = message.usage;
      usage = llmUsage(
        this.agent,
        message.model || this.opts.model,
        {
          inputTokens: u.input_tokens,
          outputTokens: u.output_tokens,
          cacheReadTokens: u.cache_read_input_tokens ?? 0,
          cacheWriteTokens: u.cache_creation_input_tokens ?? 0,
        },
        this.opts.price,
      );
      if (message.stop_reason === 'max_tokens') {
        throw new MalformedAnswerError(`the answer was cut off at ${this.opts.maxTokens} output tokens`);
      }
      if (message.stop_reason === 'refusal') throw new MalformedAnswerError('the model refused to answer');
      const text = message.content
        .filter((b): b is Anthropic.TextBlock => b.type === 'text')
        .map((b) => b.text)
        .join('');
      const checked = validateLlmAnswer({
        text,
        agent: this.agent,
        knobs: ctx.config.knobs,
        baseline: ctx.baseline,
        editable: ctx.config.editable,
        files: model.files,
      });
      const notes = [
        `${this.agent} proposed ${checked.hypotheses.length + checked.rejected.length} hypotheses; ${checked.rejected.length} failed validation`,
      ];
      if (model.omitted.length > 0) {
        notes.push(
          `editable code over the ${this.opts.maxCodeChars}-character limit was not sent: ${model.omitted.slice(0, 5).join(', ')}${model.omitted.length > 5 ? ', ...' : ''}`,
        );
      }
      if (this.opts.price.basis === 'assumed') {
        notes.push(
          `no price is known for ${this.opts.model}: dollars assume Sonnet rates (set REA_LLM_USD_PER_MTOK_IN and _OUT)`,
        );
      }
      this.opts.log?.info(
        { agent: this.agent, accepted: checked.hypotheses.length, rejected: checked.rejected.length, usage },
        'research agent answered',
      );
      return { hypotheses: checked.hypotheses, rejected: checked.rejected, notes, usage: [usage] };
    } catch (err) {
      const reason = describeFailure(err, this.opts);
      this.opts.log?.warn({ agent: this.agent, reason }, 'research agent failed; using the offline agent');
      const off = await this.opts.fallback.propose(ctx);
      return {
        ...off,
        notes: [
          ...off.notes,
          `${this.agent} failed (${reason}); hypotheses come from the ${this.opts.fallback.name} research agent instead`,
        ],
        usage: [...(off.usage ?? []), ...(usage ? [usage] : [])],
      };
    }
  }

  /** Reads `.rea.yml`, the baseline config and the editable files, within the size limit. */
  private async readModel(ctx: ProposalContext): Promise<ModelContext> {
    const code = ctx.code;
    const reaYml = (await code?.read('.rea.yml')) ?? JSON.stringify(ctx.config, null, 2);
    const baselineText =
      (await code?.read(ctx.config.baseline.config_file)) ?? JSON.stringify(ctx.baseline, null, 2);
    const files: Record<string, string> = {};
    const omitted: string[] = [];
    const parts: string[] = [];
    if (!code || ctx.config.editable.length === 0) {
      return { reaYml, baselineText, files, omitted, codeText: 'No editable files.' };
    }
    let used = 0;
    for (const path of await code.list(ctx.config.editable)) {
      const text = await code.read(path);
      if (text === undefined) continue;
      if (used + text.length > this.opts.maxCodeChars) {
        omitted.push(path);
        continue;
      }
      used += text.length;
      files[path] = text;
      parts.push(`## ${path}\n\n\`\`\`\n${text}${text.endsWith('\n') ? '' : '\n'}\`\`\``);
    }
    if (omitted.length > 0) parts.push(`Not shown (size limit): ${omitted.join(', ')}`);
    return { reaYml, baselineText, files, omitted, codeText: parts.join('\n\n') || 'No editable files.' };
  }
}
