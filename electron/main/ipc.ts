/**
 * The IPC boundary, kept free of Electron imports so it is tested under Node: a call is answered
 * only for the app's own top frame, and its payload goes through the same validating dispatcher
 * as the HTTP bridge.
 */
export const CALL_CHANNEL = 'gradbench:call';
export const EVENT_CHANNEL = 'gradbench:event';

export interface IpcEventLike {
  senderFrame?: { url: string } | null;
}

export type Dispatch = (name: unknown, args: unknown) => Promise<unknown>;

/** Answers one `gradbench:call`; rejects calls from any frame that is not the app. */
export async function handleCall(
  dispatch: Dispatch,
  isAppUrl: (url: string) => boolean,
  event: IpcEventLike,
  name: unknown,
  args: unknown,
): Promise<unknown> {
  const url = event.senderFrame?.url;
  if (!url || !isAppUrl(url)) throw new Error('rejected an API call from an untrusted frame');
  return dispatch(name, args);
}
