import { lazy, Suspense } from 'react';
import { Route, Routes } from 'react-router';
import { AppShell } from './components/AppShell';
import { Loading } from './components/Loading';
import { RequireSession } from './components/RequireSession';

// Each page is its own chunk: the first load fetches only the shell and its page.
const Login = lazy(() => import('./pages/Login'));
const Home = lazy(() => import('./pages/Home'));
const Projects = lazy(() => import('./pages/Projects'));
const Board = lazy(() => import('./pages/Board'));
const TaskView = lazy(() => import('./pages/TaskView'));
const Settings = lazy(() => import('./pages/Settings'));
const AcceptInvitation = lazy(() => import('./settings/AcceptInvitation'));
const GithubSetup = lazy(() => import('./settings/GithubSetup'));
const NotFound = lazy(() => import('./pages/NotFound'));

/** Every route of the dashboard. */
export function App() {
  return (
    <Suspense fallback={<Loading />}>
      <Routes>
        <Route path="/login" element={<Login />} />
        <Route
          element={
            <RequireSession>
              <AppShell />
            </RequireSession>
          }
        >
          <Route index element={<Home />} />
          <Route path="orgs/:org" element={<Projects />} />
          <Route path="orgs/:org/projects/:projectId" element={<Board />} />
          <Route path="orgs/:org/tasks/:taskId" element={<TaskView />} />
          <Route path="orgs/:org/settings/*" element={<Settings />} />
          <Route path="invitations/accept" element={<AcceptInvitation />} />
          <Route path="github/setup" element={<GithubSetup />} />
          <Route path="*" element={<NotFound />} />
        </Route>
      </Routes>
    </Suspense>
  );
}
