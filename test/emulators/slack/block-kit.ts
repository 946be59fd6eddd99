// Block Kit validation as Slack's API applies it to chat.postMessage, chat.update, chat.postEphemeral and
// response_url posts. The limits are the documented ones (docs.slack.dev/reference/block-kit: blocks, block
// elements, composition objects); the wording of the messages copies what Slack returns in
// `response_metadata.messages`, e.g. "[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]",
// so a test can assert on which limit was hit the same way an operator would read Slack's answer.

export const BLOCK_KIT_LIMITS = {
  blocksPerMessage: 50,
  blockId: 255,
  actionId: 255,
  sectionText: 3000,
  sectionFields: 10,
  sectionFieldText: 2000,
  headerText: 150,
  markdownBlockText: 12_000,
  actionsElements: 25,
  contextElements: 10,
  buttonText: 75,
  buttonValue: 2000,
  buttonUrl: 3000,
  imageUrl: 3000,
  imageAltText: 2000,
  /** The top-level `text` of a message (Slack's "40,000 characters" rule). */
  messageText: 40_000,
} as const;

const BLOCK_TYPES = new Set([
  'section',
  'actions',
  'context',
  'context_actions',
  'divider',
  'header',
  'image',
  'input',
  'file',
  'rich_text',
  'video',
  'markdown',
  'table',
]);

export type BlocksParse =
  | { ok: true; blocks: unknown[] | undefined }
  | { ok: false; error: 'invalid_blocks_format' };

/**
 * Reads a `blocks` argument as it arrives: a JSON string from a form-encoded body (the way WebClient sends it),
 * or an array from a JSON body. Anything else is `invalid_blocks_format`, as in Slack.
 */
export function parseBlocksArg(raw: unknown): BlocksParse {
  if (raw === undefined || raw === null || raw === '') return { ok: true, blocks: undefined };
  let value = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch {
      return { ok: false, error: 'invalid_blocks_format' };
    }
  }
  if (!Array.isArray(value)) return { ok: false, error: 'invalid_blocks_format' };
  return { ok: true, blocks: value };
}

/** Every violation in `blocks`, each worded like Slack's (without the "[ERROR] " prefix). Empty when valid. */
export function validateBlocks(blocks: unknown[], pointer = '/blocks'): string[] {
  const errors: string[] = [];
  if (blocks.length > BLOCK_KIT_LIMITS.blocksPerMessage) {
    errors.push(tooMany(BLOCK_KIT_LIMITS.blocksPerMessage, pointer));
  }
  const blockIds = new Set<string>();
  blocks.forEach((block, i) => {
    validateBlock(block, `${pointer}/${i}`, errors, blockIds);
  });
  return errors;
}

function validateBlock(block: unknown, at: string, errors: string[], blockIds: Set<string>): void {
  if (!isObject(block) || typeof block.type !== 'string') {
    errors.push(`missing required field: type [json-pointer:${at}]`);
    return;
  }
  if (!BLOCK_TYPES.has(block.type)) {
    errors.push(`failed to match all allowed schemas [json-pointer:${at}]`);
    return;
  }
  if (block.block_id !== undefined) {
    if (typeof block.block_id !== 'string') {
      errors.push(`must be a string [json-pointer:${at}/block_id]`);
    } else {
      checkLength(block.block_id, BLOCK_KIT_LIMITS.blockId, `${at}/block_id`, errors);
      // Slack refuses a message whose blocks share a block_id: interactions would be ambiguous.
      if (blockIds.has(block.block_id)) errors.push(`duplicate block_id [json-pointer:${at}/block_id]`);
      blockIds.add(block.block_id);
    }
  }
  switch (block.type) {
    case 'section':
      validateSection(block, at, errors);
      return;
    case 'header':
      validateTextObject(block.text, `${at}/text`, errors, {
        max: BLOCK_KIT_LIMITS.headerText,
        plainOnly: true,
      });
      return;
    case 'actions':
      validateElementList(block.elements, `${at}/elements`, BLOCK_KIT_LIMITS.actionsElements, errors, true);
      return;
    case 'context':
      validateElementList(block.elements, `${at}/elements`, BLOCK_KIT_LIMITS.contextElements, errors, false);
      return;
    case 'markdown':
      if (typeof block.text !== 'string') errors.push(`missing required field: text [json-pointer:${at}]`);
      else checkLength(block.text, BLOCK_KIT_LIMITS.markdownBlockText, `${at}/text`, errors);
      return;
    case 'image':
      if (typeof block.image_url === 'string') {
        checkLength(block.image_url, BLOCK_KIT_LIMITS.imageUrl, `${at}/image_url`, errors);
      }
      if (typeof block.alt_text !== 'string')
        errors.push(`missing required field: alt_text [json-pointer:${at}]`);
      else checkLength(block.alt_text, BLOCK_KIT_LIMITS.imageAltText, `${at}/alt_text`, errors);
      return;
    default:
      return;
  }
}

function validateSection(block: Record<string, unknown>, at: string, errors: string[]): void {
  if (block.text === undefined && block.fields === undefined) {
    errors.push(`missing required field: text [json-pointer:${at}]`);
  }
  if (block.text !== undefined) {
    validateTextObject(block.text, `${at}/text`, errors, { max: BLOCK_KIT_LIMITS.sectionText });
  }
  if (block.fields !== undefined) {
    if (!Array.isArray(block.fields)) {
      errors.push(`must be an array [json-pointer:${at}/fields]`);
    } else {
      if (block.fields.length > BLOCK_KIT_LIMITS.sectionFields) {
        errors.push(tooMany(BLOCK_KIT_LIMITS.sectionFields, `${at}/fields`));
      }
      block.fields.forEach((field, i) => {
        validateTextObject(field, `${at}/fields/${i}`, errors, { max: BLOCK_KIT_LIMITS.sectionFieldText });
      });
    }
  }
  if (block.accessory !== undefined) validateElement(block.accessory, `${at}/accessory`, errors);
}

function validateElementList(
  elements: unknown,
  at: string,
  max: number,
  errors: string[],
  interactive: boolean,
): void {
  if (!Array.isArray(elements)) {
    errors.push(`missing required field: elements [json-pointer:${at.slice(0, at.lastIndexOf('/'))}]`);
    return;
  }
  if (elements.length > max) errors.push(tooMany(max, at));
  // action_id only has to be unique within its block, which is what Slack routes interactions by.
  const actionIds = new Set<string>();
  elements.forEach((element, i) => {
    const where = `${at}/${i}`;
    if (interactive) {
      validateElement(element, where, errors);
      if (isObject(element) && typeof element.action_id === 'string') {
        if (actionIds.has(element.action_id))
          errors.push(`duplicate action_id [json-pointer:${where}/action_id]`);
        actionIds.add(element.action_id);
      }
    } else if (isObject(element) && (element.type === 'mrkdwn' || element.type === 'plain_text')) {
      validateTextObject(element, where, errors, {});
    }
  });
}

function validateElement(element: unknown, at: string, errors: string[]): void {
  if (!isObject(element) || typeof element.type !== 'string') {
    errors.push(`missing required field: type [json-pointer:${at}]`);
    return;
  }
  if (element.action_id !== undefined) {
    if (typeof element.action_id !== 'string') errors.push(`must be a string [json-pointer:${at}/action_id]`);
    else checkLength(element.action_id, BLOCK_KIT_LIMITS.actionId, `${at}/action_id`, errors);
  }
  if (element.type !== 'button') return;
  validateTextObject(element.text, `${at}/text`, errors, {
    max: BLOCK_KIT_LIMITS.buttonText,
    plainOnly: true,
  });
  if (element.value !== undefined) {
    if (typeof element.value !== 'string') errors.push(`must be a string [json-pointer:${at}/value]`);
    else checkLength(element.value, BLOCK_KIT_LIMITS.buttonValue, `${at}/value`, errors);
  }
  if (typeof element.url === 'string')
    checkLength(element.url, BLOCK_KIT_LIMITS.buttonUrl, `${at}/url`, errors);
  if (element.style !== undefined && element.style !== 'primary' && element.style !== 'danger') {
    errors.push(`must be one of: primary, danger [json-pointer:${at}/style]`);
  }
}

function validateTextObject(
  text: unknown,
  at: string,
  errors: string[],
  opts: { max?: number; plainOnly?: boolean },
): void {
  if (!isObject(text)) {
    errors.push(`missing required field: text [json-pointer:${at.slice(0, at.lastIndexOf('/'))}]`);
    return;
  }
  const allowed = opts.plainOnly
    ? text.type === 'plain_text'
    : text.type === 'plain_text' || text.type === 'mrkdwn';
  if (!allowed) {
    errors.push(`failed to match all allowed schemas [json-pointer:${at}]`);
    return;
  }
  if (typeof text.text !== 'string') {
    errors.push(`missing required field: text [json-pointer:${at}]`);
    return;
  }
  if (text.text.length === 0) errors.push(`must be more than 0 characters [json-pointer:${at}/text]`);
  if (opts.max !== undefined) checkLength(text.text, opts.max, `${at}/text`, errors);
}

function checkLength(value: string, max: number, at: string, errors: string[]): void {
  if (value.length > max) errors.push(`must be less than ${max + 1} characters [json-pointer:${at}]`);
}

function tooMany(max: number, at: string): string {
  return `no more than ${max} items allowed [json-pointer:${at}]`;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
