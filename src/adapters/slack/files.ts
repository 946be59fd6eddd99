import type { webApi } from '@slack/bolt';

// Charts go to Slack as PNG files shared into a channel or thread. files.uploadV2 does Slack's three-step
// external upload (get an upload URL, POST the bytes, complete and share), which replaced files.upload.

export interface PngUpload {
  /** A channel id (C...): files.completeUploadExternal does not accept channel names. */
  channel: string;
  threadTs?: string;
  filename: string;
  title: string;
  /** Read by screen readers and shown when the image cannot load. */
  altText: string;
  png: Buffer;
  initialComment?: string;
}

/** Uploads a PNG and shares it; resolves to the file id Slack assigned. Throws what the Web API throws. */
export async function uploadPng(client: webApi.WebClient, upload: PngUpload): Promise<string | undefined> {
  const common = {
    channel_id: upload.channel,
    ...(upload.initialComment ? { initial_comment: upload.initialComment } : {}),
    file: upload.png,
    filename: upload.filename,
    title: upload.title,
    alt_text: upload.altText,
  };
  // The argument types are a union: a thread reply needs thread_ts present, a channel post leaves it out.
  const res = upload.threadTs
    ? await client.files.uploadV2({ ...common, thread_ts: upload.threadTs })
    : await client.files.uploadV2(common);
  const files = (res as { files?: Array<{ files?: Array<{ id?: string }> }> }).files;
  return files?.[0]?.files?.[0]?.id;
}
