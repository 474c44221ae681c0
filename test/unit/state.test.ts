import { describe, expect, it } from 'vitest';
import { InvalidTransitionError, acceptedEvents, transition, type RelayState } from '../../src/relay/state.js';

describe('relay state machine', () => {
  it('walks the happy path claim → publish → complete → claim', () => {
    let s: RelayState = 'created';
    for (const e of ['start', 'started', 'claimed', 'acked', 'completed'] as const) s = transition(s, e);
    expect(s).toBe('claiming');
  });

  it('goes idle on an empty claim and back to claiming on wake', () => {
    expect(transition('claiming', 'empty')).toBe('idle');
    expect(transition('idle', 'wake')).toBe('claiming');
  });

  it('backs off after a failure in any working state, then claims again', () => {
    for (const s of ['claiming', 'publishing', 'completing'] as const) expect(transition(s, 'failed')).toBe('backoff');
    expect(transition('backoff', 'wake')).toBe('claiming');
  });

  it('never marks without an ack: completing is reachable only from publishing via acked', () => {
    const all: RelayState[] = ['created', 'starting', 'claiming', 'publishing', 'completing', 'idle', 'backoff', 'stopping', 'stopped'];
    const into = all.filter((s) => acceptedEvents(s).some((e) => transition(s, e) === 'completing'));
    expect(into).toEqual(['publishing']);
    expect(acceptedEvents('publishing').filter((e) => transition('publishing', e) === 'completing')).toEqual(['acked']);
  });

  it('stops from every live state, and stopping absorbs in-flight events until stopped', () => {
    for (const s of ['starting', 'claiming', 'publishing', 'completing', 'idle', 'backoff'] as const) {
      expect(transition(s, 'stop')).toBe('stopping');
    }
    for (const e of ['acked', 'completed', 'failed', 'wake', 'claimed', 'empty'] as const) expect(transition('stopping', e)).toBe('stopping');
    expect(transition('stopping', 'stopped')).toBe('stopped');
  });

  it('rejects transitions that are not in the table', () => {
    expect(() => transition('idle', 'acked')).toThrow(InvalidTransitionError);
    expect(() => transition('claiming', 'completed')).toThrow(/not valid in state "claiming"/);
    expect(() => transition('stopped', 'start')).toThrow(InvalidTransitionError);
  });
});

describe('the whole transition table', () => {
  it('is exactly this', () => {
    const table = Object.fromEntries(
      (['created', 'starting', 'claiming', 'publishing', 'completing', 'idle', 'backoff', 'stopping', 'stopped'] as const).map((s) => [
        s,
        Object.fromEntries(acceptedEvents(s).map((e) => [e, transition(s, e)])),
      ]),
    );
    expect(table).toEqual({
      created: { start: 'starting', stop: 'stopped' },
      starting: { started: 'claiming', failed: 'stopped', stop: 'stopping' },
      claiming: { claimed: 'publishing', empty: 'idle', failed: 'backoff', stop: 'stopping' },
      publishing: { acked: 'completing', failed: 'backoff', stop: 'stopping' },
      completing: { completed: 'claiming', failed: 'backoff', stop: 'stopping' },
      idle: { wake: 'claiming', stop: 'stopping' },
      backoff: { wake: 'claiming', stop: 'stopping' },
      stopping: { started: 'stopping', claimed: 'stopping', empty: 'stopping', acked: 'stopping', completed: 'stopping', failed: 'stopping', wake: 'stopping', stop: 'stopping', stopped: 'stopped' },
      stopped: { stop: 'stopped' },
    });
    const err = (() => {
      try {
        transition('idle', 'acked');
      } catch (e) {
        return e as InvalidTransitionError;
      }
    })();
    expect(err).toMatchObject({ name: 'InvalidTransitionError', state: 'idle', event: 'acked' });
  });
});
