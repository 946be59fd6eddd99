import type { webApi } from '@slack/bolt';

// Who may approve, reject, pause, resume, cancel or raise a budget from Slack: the user ids and user-group
// ids of `.rea.yml` `approvers.slack`. For the `control` use case behind the Slack handlers.

export type ApproverCheck = { ok: true } | { ok: false; reason: string };

const GROUP = /^S[A-Z0-9]+$/;

function label(id: string): string {
  return GROUP.test(id) ? `<!subteam^${id}>` : `<@${id}>`;
}

/**
 * Whether `user` is listed, directly or through a user group (read with usergroups.users.list, which needs
 * the `usergroups:read` scope). A group Slack cannot read (deleted, no scope) counts as empty, so a
 * configuration mistake refuses rather than allows.
 */
export async function mayActInSlack(
  client: Pick<webApi.WebClient, 'usergroups'>,
  user: string,
  approvers: readonly string[],
  log?: { warn(obj: object, msg: string): void },
): Promise<ApproverCheck> {
  if (approvers.includes(user)) return { ok: true };
  for (const group of approvers.filter((a) => GROUP.test(a))) {
    try {
      const res = await client.usergroups.users.list({ usergroup: group });
      if (res.users?.includes(user)) return { ok: true };
    } catch (err) {
      log?.warn({ usergroup: group, err: String(err) }, 'could not read a Slack approver group');
    }
  }
  const listed = approvers.map(label).join(', ');
  return {
    ok: false,
    reason: listed
      ? `only approvers can do that: ${listed} (\`.rea.yml\` \`approvers.slack\`)`
      : 'this model has no Slack approvers (`.rea.yml` `approvers.slack` is empty); approve in the plan PR',
  };
}
