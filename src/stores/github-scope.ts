export type GithubScope =
  | { scope: 'repository'; owner: string; repo: string }
  | { scope: 'environment'; owner: string; repo: string; environment: string }
  | {
      scope: 'organization';
      org: string;
      visibility: 'all' | 'private' | 'selected';
      selectedRepositoryIds: readonly number[] | undefined;
    };

interface ScopeFields {
  owner?: string | undefined;
  repo?: string | undefined;
  environment?: string | undefined;
  org?: string | undefined;
  visibility?: 'all' | 'private' | 'selected' | undefined;
  selectedRepositoryIds?: readonly number[] | undefined;
}

/**
 * The one place that decides which GitHub scope a target means; the schema uses it to reject a
 * target that names none or several, and the store uses it to pick the endpoints.
 */
export function githubScopeOf(fields: ScopeFields): GithubScope | { problem: string } {
  const { owner, repo, environment, org, visibility, selectedRepositoryIds } = fields;
  if (org !== undefined) {
    if (owner !== undefined || repo !== undefined || environment !== undefined) {
      return { problem: 'give either org (organization secret) or owner and repo, not both' };
    }
    if (selectedRepositoryIds !== undefined && visibility !== 'selected') {
      return { problem: 'selectedRepositoryIds needs visibility "selected"' };
    }
    return { scope: 'organization', org, visibility: visibility ?? 'private', selectedRepositoryIds };
  }
  if (visibility !== undefined || selectedRepositoryIds !== undefined) {
    return { problem: 'visibility and selectedRepositoryIds apply to organization secrets only' };
  }
  if (owner === undefined || repo === undefined) {
    return { problem: 'give owner and repo (repository or environment secret) or org (organization secret)' };
  }
  return environment === undefined
    ? { scope: 'repository', owner, repo }
    : { scope: 'environment', owner, repo, environment };
}

export function githubScopeLabel(scope: GithubScope): string {
  switch (scope.scope) {
    case 'repository':
      return `github:${scope.owner}/${scope.repo}`;
    case 'environment':
      return `github:${scope.owner}/${scope.repo}@${scope.environment}`;
    case 'organization':
      return `github:org:${scope.org}`;
  }
}
