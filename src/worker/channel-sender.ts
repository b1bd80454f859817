/** The IPC end a worker sends on: its `process` when forked with an IPC channel (a ChildProcess, in tests). */
export interface IpcChannel {
  readonly connected: boolean;
  send?(message: unknown, callback: (err: Error | null) => void): boolean;
}

/**
 * A send function over `channel` that is false only when the channel is closed. process.send() returning
 * false means the channel's queue is over its high-water mark: the message is queued and goes out all the
 * same (backpressure), so treating it as a failure answered scrapes 503 while their question was on its
 * way (issue 18). A failed write (the channel closing meanwhile) goes to the callback, not to an 'error'
 * event that would kill the worker.
 */
export function channelSender<M>(channel: IpcChannel): (message: M) => boolean {
  return (message) => {
    if (!channel.connected || channel.send === undefined) return false;
    channel.send(message, ignoreSendError);
    return true;
  };
}

function ignoreSendError(): void {}
