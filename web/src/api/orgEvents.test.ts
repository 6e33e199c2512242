import { describe, expect, it } from 'vitest';
import { isKind, parseOrgEvent } from './orgEvents';

describe('parseOrgEvent', () => {
  it('reads an event of a known kind', () => {
    expect(parseOrgEvent('{"kind":"task.deleted","data":{"id":"a"}}')).toEqual({ kind: 'task.deleted', data: { id: 'a' } });
  });

  it('skips kinds this build does not know and anything that is not an event', () => {
    expect(parseOrgEvent('{"kind":"task.archived","data":{"id":"a"}}')).toBeNull();
    expect(parseOrgEvent('{"kind":"toString","data":{}}')).toBeNull();
    expect(parseOrgEvent('{"kind":"task.deleted"}')).toBeNull();
    expect(parseOrgEvent('{"data":{"id":"a"}}')).toBeNull();
    expect(parseOrgEvent('not json')).toBeNull();
    expect(parseOrgEvent('null')).toBeNull();
    expect(parseOrgEvent('"task.deleted"')).toBeNull();
  });
});

describe('isKind', () => {
  it('is true for the kinds given only', () => {
    const event = { kind: 'task.deleted', data: { id: 'a' } } as const;
    expect(isKind(event, 'task.deleted', 'task.updated')).toBe(true);
    expect(isKind(event, 'project.deleted')).toBe(false);
  });
});
