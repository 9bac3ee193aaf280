import { useParams } from 'react-router';

import { ContentDetail } from './ContentDetail';

/** `/content/:id`: one item of the library, its viewer, its analysis and its actions. */
export default function ContentPage() {
  const { id = '' } = useParams<'id'>();
  // A new item is a new page: no state (editing, player position) carries over.
  return <ContentDetail key={id} id={id} />;
}
