// Dashboard URLs in one place, so pages link to each other without spelling paths out.
const seg = encodeURIComponent;

export const links = {
  home: () => '/',
  login: (returnTo?: string) => (returnTo ? `/login?return_to=${seg(returnTo)}` : '/login'),
  org: (org: string) => `/orgs/${seg(org)}`,
  board: (org: string, projectId: string) => `/orgs/${seg(org)}/projects/${seg(projectId)}`,
  task: (org: string, taskId: string) => `/orgs/${seg(org)}/tasks/${seg(taskId)}`,
  settings: (org: string, section?: string) => `/orgs/${seg(org)}/settings${section ? `/${seg(section)}` : ''}`,
  /** The api's GitHub sign-in, which comes back to `returnTo`. */
  githubLogin: (returnTo: string) => `/api/v1/auth/github/login?return_to=${seg(returnTo)}`,
};
