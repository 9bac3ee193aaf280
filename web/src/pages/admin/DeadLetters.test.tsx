import { describe, expect, it } from 'vitest';

import type { Schema } from '../../api/client';
import { checkReason, deadLetterState, MAX_REASON_CHARS } from './DeadLetters';
import { projectionState } from './ProjectionsPage';

type DeadLetter = Schema<'DeadLetterView'>;
type Projection = Schema<'ProjectionView'>;

const DEAD: DeadLetter = {
  position: 7,
  version: 1,
  event_id: '5b1f0c7e-8f53-4c57-9a55-6f3e0d1b2c44',
  event_type: 'ItemTagged',
  stream_id: 'content-1',
  during_rebuild: false,
  error: 'boom',
  attempts: 1,
  first_failed_at: '2026-03-10T09:00:00Z',
  last_failed_at: '2026-03-10T09:00:00Z',
  resolution: null,
  resolved_at: null,
};

const TAGS: Projection = {
  name: 'tags',
  position: 6,
  head: 9,
  lag: 3,
  version: 1,
  target_version: 1,
  epoch: 1,
  owner_node: 'node-a',
  updated_at: '2026-03-10T10:00:00Z',
  restarts_here: 0,
  last_error_here: null,
  running_here: true,
  rebuilding_here: false,
  last_rebuild_here: null,
  rebuild_task_here: null,
  stalled_at: 7,
  dead_letters: [DEAD],
};

describe('dead letters', () => {
  it('takes a reason of 1 to 500 characters after trimming, counted as the server counts them', () => {
    expect(checkReason('   ')).toEqual({ reason: '', chars: 0, valid: false });
    expect(checkReason('  fixed by hand \n')).toEqual({ reason: 'fixed by hand', chars: 13, valid: true });
    expect(checkReason('x'.repeat(MAX_REASON_CHARS)).valid).toBe(true);
    expect(checkReason('x'.repeat(MAX_REASON_CHARS + 1)).valid).toBe(false);
    // One character each, though two UTF-16 units.
    expect(checkReason('🙂'.repeat(MAX_REASON_CHARS)).valid).toBe(true);
  });

  it('names the state of each dead letter', () => {
    expect(deadLetterState(DEAD)).toMatchObject({ label: 'Open', open: true });
    expect(deadLetterState({ ...DEAD, resolution: 'applied', resolved_at: DEAD.last_failed_at })).toMatchObject({ label: 'Applied', open: false });
    expect(deadLetterState({ ...DEAD, resolution: 'skipped', resolved_at: DEAD.last_failed_at })).toMatchObject({ label: 'Skipped', open: false });
  });

  it('marks a stalled projection, and says when a rebuild met the event', () => {
    expect(projectionState(TAGS, false)).toMatchObject({ label: 'Stalled at #7', tone: 'danger', detail: expect.stringMatching(/Reads are stale/) });
    const rebuild = { ...TAGS, dead_letters: [{ ...DEAD, during_rebuild: true }] };
    expect(projectionState(rebuild, false).detail).toMatch(/live tables keep serving/);
    expect(projectionState(TAGS, true).label).toBe('Rebuilding');
    expect(projectionState({ ...TAGS, stalled_at: null, lag: 0 }, false).label).toBe('Up to date');
  });
});
