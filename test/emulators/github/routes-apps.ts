import { randomBytes } from 'node:crypto';
import {
  type EmulatorServices,
  intParam,
  notFound,
  paginate,
  type RouteContext,
  type Routes,
  repoFor,
} from './core.ts';
import {
  APP_PERMISSIONS,
  appShape,
  fullRepositoryShape,
  installationShape,
  isoSeconds,
  userShape,
} from './shapes.ts';
import type { RepoPermission } from './state.ts';

// The app itself, installations and their tokens (app JWT), plus the permission questions rea asks
// before it obeys a command: collaborator permission and team membership (installation token).

export const TOKEN_TTL_MS = 60 * 60 * 1000;

function newToken(): string {
  // Installation tokens look like ghs_ + 36 base62 characters.
  return `ghs_${randomBytes(27).toString('base64').replace(/[+/=]/g, '').slice(0, 36).padEnd(36, 'x')}`;
}

const PERMISSION_FLAGS: Record<RepoPermission | 'none', Record<string, boolean>> = {
  admin: { admin: true, maintain: true, push: true, triage: true, pull: true },
  write: { admin: false, maintain: false, push: true, triage: true, pull: true },
  read: { admin: false, maintain: false, push: false, triage: false, pull: true },
  none: { admin: false, maintain: false, push: false, triage: false, pull: false },
};

export function appRoutes(s: EmulatorServices): Routes {
  const { state } = s;
  return {
    'apps/get-authenticated': () => ({ status: 200, body: appShape(s.shapes) }),

    'apps/list-installations': (c) => {
      const page = paginate([...state.installations.values()], c);
      return {
        status: 200,
        body: page.items.map((i) => installationShape(s.shapes, i)),
        headers: page.headers,
      };
    },

    'apps/get-installation': (c) => {
      const inst = state.installations.get(intParam(c, 'installation_id'));
      if (!inst) throw notFound();
      return { status: 200, body: installationShape(s.shapes, inst) };
    },

    'apps/get-repo-installation': (c) => {
      const repo = repoFor(s, c);
      const inst = state.installationFor(repo.owner);
      if (!inst) throw notFound();
      return { status: 200, body: installationShape(s.shapes, inst) };
    },

    'apps/create-installation-access-token': (c) => {
      const inst = state.installations.get(intParam(c, 'installation_id'));
      if (!inst) throw notFound();
      const body = (c.body ?? {}) as { repositories?: string[]; permissions?: Record<string, string> };
      // Token lifetime runs on the real clock: @octokit/auth-app caches tokens for 59 real minutes.
      const expiresAt = isoSeconds(new Date(Date.now() + TOKEN_TTL_MS));
      const token = newToken();
      state.tokens.set(token, { token, installationId: inst.id, expiresAt });
      const out: Record<string, unknown> = {
        token,
        expires_at: expiresAt,
        permissions: body.permissions ?? { ...APP_PERMISSIONS },
        repository_selection: body.repositories ? 'selected' : 'all',
      };
      if (body.repositories) {
        out.repositories = body.repositories.flatMap((name) => {
          const repo = state.repo(inst.account, name);
          return repo ? [fullRepositoryShape(s.shapes, repo)] : [];
        });
      }
      return { status: 201, body: out };
    },
  };
}

function permissionOf(s: EmulatorServices, c: RouteContext): RepoPermission | 'none' {
  const repo = repoFor(s, c);
  const login = (c.params.username ?? '').toLowerCase();
  if (login === repo.owner.toLowerCase()) return 'admin';
  return repo.collaborators.get(login) ?? 'none';
}

export function accessRoutes(s: EmulatorServices): Routes {
  const { state } = s;
  return {
    'repos/get-collaborator-permission-level': (c) => {
      const user = state.findUser(c.params.username ?? '');
      if (!user) throw notFound();
      const permission = permissionOf(s, c);
      return {
        status: 200,
        body: {
          permission,
          role_name: permission,
          user: {
            ...userShape(s.shapes, user.login),
            permissions: PERMISSION_FLAGS[permission],
            role_name: permission,
          },
        },
      };
    },

    'repos/check-collaborator': (c) => {
      const permission = permissionOf(s, c);
      if (permission === 'none') throw notFound();
      return { status: 204 };
    },

    'teams/get-membership-for-user-in-org': (c) => {
      const org = c.params.org ?? '';
      if (c.installation && c.installation.account.toLowerCase() !== org.toLowerCase()) throw notFound();
      const key = `${org}/${c.params.team_slug ?? ''}`.toLowerCase();
      const login = c.params.username ?? '';
      if (!state.teams.get(key)?.has(login.toLowerCase())) throw notFound();
      return {
        status: 200,
        body: {
          url: `${s.shapes.apiUrl}/orgs/${org}/teams/${c.params.team_slug}/memberships/${login}`,
          role: 'member',
          state: 'active',
        },
      };
    },
  };
}
