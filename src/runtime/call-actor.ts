import type { AnyActorRef, PromiseActorLogic, PromiseSnapshot } from 'xstate';

/**
 * Why a call's signal is aborted: the state that invoked it was left. One shared value, because
 * `abort()` without a reason builds a DOMException with a stack trace each time (one per promise
 * actor stopped: a running task's `waitTask` at every kill, docs/benchmarks.md).
 */
export const CALL_CANCELLED: Error = new Error('call cancelled: the state that invoked it was left');

/** What a call gets: as `fromPromise` gives, with the signal made only when the call reads it. */
export interface CallArgs<TInput> {
  readonly input: TInput;
  /** This call's actor (its `_parent` is the actor that invoked it). */
  readonly self: AnyActorRef;
  /** Aborted (with `CALL_CANCELLED`) once the invoking state is left. */
  readonly signal: AbortSignal;
  /** The controller behind `signal`, for a result that holds on to it (a stream it closes later). */
  readonly controller: AbortController;
  /** True once the invoking state is left; reads no signal. */
  cancelled(): boolean;
}

/** The running call's own state, kept in its snapshot while it runs (as `fromObservable` keeps its subscription). */
class CallScope<TInput> implements CallArgs<TInput> {
  private made: AbortController | undefined;
  private isCancelled = false;

  constructor(
    readonly input: TInput,
    readonly self: AnyActorRef,
  ) {}

  get controller(): AbortController {
    if (!this.made) {
      this.made = new AbortController();
      if (this.isCancelled) this.made.abort(CALL_CANCELLED);
    }
    return this.made;
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  cancelled(): boolean {
    return this.isCancelled;
  }

  cancel(): void {
    this.isCancelled = true;
    this.made?.abort(CALL_CANCELLED);
  }
}

type CallSnapshot<TOutput, TInput> = PromiseSnapshot<TOutput, TInput> & { _call?: CallScope<TInput> };

// The event types `fromPromise` uses, so the inspector shows a call's traffic as it showed a promise's.
const RESOLVE = 'xstate.promise.resolve';
const REJECT = 'xstate.promise.reject';
const STOP = 'xstate.stop';

/**
 * Actor logic for one effect call (a driver call the machine invokes): a promise actor with the
 * snapshots (`status`, `output`, `error`, `input`) and the done and error events of `fromPromise`,
 * so the machine and the inspector see the same actor. What it does not do is allocate for every
 * call what most calls never use: `fromPromise` makes an `AbortController` per call (and a
 * DOMException when it stops one) and keeps it in a module-wide WeakMap; here the controller is made
 * when the call reads `signal`, and aborted with one shared reason.
 */
export function fromCall<TOutput, TInput>(
  call: (args: CallArgs<TInput>) => PromiseLike<TOutput>,
): PromiseActorLogic<TOutput, TInput> {
  const done = (status: 'done' | 'error' | 'stopped', output: unknown, error: unknown) =>
    ({ status, output, error, input: undefined }) as CallSnapshot<TOutput, TInput>;
  const logic = {
    config: call,
    transition: (state: CallSnapshot<TOutput, TInput>, event: { type: string; data?: unknown }) => {
      if (state.status !== 'active') return state;
      switch (event.type) {
        case RESOLVE:
          return done('done', event.data, undefined);
        case REJECT:
          return done('error', undefined, event.data);
        case STOP:
          state._call?.cancel();
          return done('stopped', undefined, undefined);
        default:
          return state;
      }
    },
    start: (state: CallSnapshot<TOutput, TInput>, { self }: { self: AnyActorRef }) => {
      if (state.status !== 'active') return;
      // An active snapshot holds the input it started with (`undefined` is only cleared ones').
      const scope = new CallScope(state.input as TInput, self);
      state._call = scope;
      // As `fromPromise`: a result that comes after the actor stopped is dropped. A call that throws
      // before it returns a promise is the actor's error all the same (XState catches a throwing
      // `start`), so effects need no `async` wrapper: a promise more per call.
      Promise.resolve(call(scope)).then(
        (data) => {
          if (self.getSnapshot().status === 'active') self.send({ type: RESOLVE, data });
        },
        (data: unknown) => {
          if (self.getSnapshot().status === 'active') self.send({ type: REJECT, data });
        },
      );
    },
    getInitialSnapshot: (_: unknown, input: TInput) =>
      ({ status: 'active', output: undefined, error: undefined, input }) as CallSnapshot<TOutput, TInput>,
    getPersistedSnapshot: ({ _call, ...snapshot }: CallSnapshot<TOutput, TInput>) => snapshot,
    restoreSnapshot: (snapshot: CallSnapshot<TOutput, TInput>) => snapshot,
  };
  return logic as unknown as PromiseActorLogic<TOutput, TInput>;
}
