export { BLOCK_KIT_LIMITS, parseBlocksArg, validateBlocks } from './block-kit.ts';
export {
  type MessageVersion,
  type RecordedCall,
  type RecordedEphemeral,
  type RecordedFile,
  type RecordedMessage,
  type RecordedResponse,
  type ResponseUrlContext,
  SLACK_EMULATOR_DEFAULTS,
  type SlackChannel,
  type SlackEmulator,
  type SlackEmulatorOptions,
  type SlackUser,
  startSlackEmulator,
} from './emulator.ts';
export {
  type BlockActionFields,
  type BoltResponse,
  blockActionBody,
  blockActionPayload,
  type PostToBoltOptions,
  postToBolt,
  type SlackSignatureHeaders,
  type SlashCommandFields,
  signSlackRequest,
  slashCommandBody,
} from './requests.ts';
