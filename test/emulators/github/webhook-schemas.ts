import { createRequire } from 'node:module';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { formatAjvErrors } from './openapi.ts';

// Webhook payloads are checked against @octokit/webhooks-schemas. The package's main export is one JSON
// Schema (draft-07) whose `definitions` hold a schema per event and action, named `<event>$<action>`
// (e.g. `workflow_run$completed`), or `<event>_event` for events without actions. It uses the custom
// keyword `tsAdditionalProperties`, which Ajv must be told about (the package README says so).

const require = createRequire(import.meta.url);

type SchemaNode = { [key: string]: unknown };

let ajvInstance: Ajv | undefined;
let definitions: Record<string, unknown> | undefined;
const validators = new Map<string, ValidateFunction>();

function isNode(x: unknown): x is SchemaNode {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

// The community schema's workflow run conclusions lack `startup_failure`, which GitHub sends (it is in
// GitHub's own webhook description, @octokit/openapi-webhooks-types, webhook-workflow-run-completed). Add
// exactly that value, in exactly those enums, rather than loosening anything else.
function addStartupFailure(defs: Record<string, unknown>): void {
  const patch = (node: unknown) => {
    if (!isNode(node)) return;
    const enumValues = node.enum;
    if (
      Array.isArray(enumValues) &&
      enumValues.includes('timed_out') &&
      !enumValues.includes('startup_failure')
    ) {
      enumValues.push('startup_failure');
    }
  };
  const run = defs['workflow-run'];
  if (isNode(run) && isNode(run.properties)) patch(run.properties.conclusion);
  const completed = defs.workflow_run$completed;
  const wr =
    isNode(completed) && isNode(completed.properties) ? completed.properties.workflow_run : undefined;
  if (isNode(wr) && Array.isArray(wr.allOf)) {
    for (const part of wr.allOf)
      if (isNode(part) && isNode(part.properties)) patch(part.properties.conclusion);
  }
}

function loadDefinitions(): Record<string, unknown> {
  if (definitions) return definitions;
  const schema = structuredClone(require('@octokit/webhooks-schemas') as SchemaNode);
  const defs = schema.definitions as Record<string, unknown>;
  addStartupFailure(defs);
  definitions = defs;
  return defs;
}

function ajv(): Ajv {
  if (ajvInstance) return ajvInstance;
  // Only the definitions are registered: compiling the package's root schema (a oneOf of every event)
  // takes seconds. With inlineRefs: false the shared definitions (repository, user) compile once and are
  // reused by every event.
  const instance = new Ajv({ strict: false, logger: false, inlineRefs: false });
  addFormatsModule.default(instance);
  instance.addKeyword('tsAdditionalProperties');
  instance.addSchema({ definitions: loadDefinitions() }, 'webhooks');
  ajvInstance = instance;
  return instance;
}

/** The schema definition that describes `event` with `action`, if the package has one. */
export function webhookDefinitionName(event: string, action: string | undefined): string | undefined {
  const defs = loadDefinitions();
  const candidates = action ? [`${event}$${action}`, `${event}_event`] : [`${event}_event`];
  return candidates.find((c) => c in defs);
}

/** Problems with a webhook payload; empty when it validates. */
export function validateWebhookPayload(event: string, payload: unknown): string[] {
  const action = isNode(payload) && typeof payload.action === 'string' ? payload.action : undefined;
  const name = webhookDefinitionName(event, action);
  if (!name) return [`@octokit/webhooks-schemas has no schema for ${event}${action ? `.${action}` : ''}`];
  let validate = validators.get(name);
  if (!validate) {
    validate = ajv().compile({ $ref: `webhooks#/definitions/${name}` });
    validators.set(name, validate);
  }
  return validate(payload) ? [] : [formatAjvErrors(validate.errors, name)];
}
