import { Link } from 'react-router';
import { PageHeading } from '../components/PageHeading';
import { links } from '../links';

/** Any dashboard path without a page. */
export default function NotFound() {
  return (
    <>
      <PageHeading>Page not found</PageHeading>
      <p>There is no page at this address.</p>
      <p>
        <Link to={links.home()}>Go to your projects</Link>
      </p>
    </>
  );
}
