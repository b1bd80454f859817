import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MockBackendStats } from './create-mock-backend.js';
import type { EngineScheduler } from './engine-scheduler.js';
import type { MockControls } from './mock-controls.js';
import type { PrefillStage } from './prefill-stage.js';

/** Backend-wide values the route handlers read; fixed when the backend is created. */
export interface MockSettings {
  readonly defaultMaxTokens: number;
  readonly createdSec: number;
  /** The simulated prefix cache and prefill queue; null when off. */
  readonly prefill: PrefillStage | null;
  /** The sequence slots, their queue and the KV cache (no limit unless configured). */
  readonly engine: EngineScheduler;
}

/** What the x-mock-* request headers asked for, with the backend defaults filled in. */
export interface MockSwitches {
  readonly ttftMs: number;
  readonly tokenDelayMs: number;
  readonly status: number | undefined;
  readonly keepAliveComments: number;
  readonly inbandErrorAfter: number | undefined;
  readonly crashAfter: number | undefined;
  /** Stream: the connection drops when the first event is due, after the head went out. */
  readonly crashInPrefill: boolean;
  readonly silentAfter: number | undefined;
  readonly noAnswer: boolean;
  readonly crlf: boolean;
  readonly splitBytes: boolean;
}

/** One request as the route handlers see it: the body has been read already. */
export interface MockExchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly path: string;
  readonly body: Buffer;
  readonly settings: MockSettings;
  /** The controls as they were when the request arrived. */
  readonly controls: MockControls;
  readonly stats: MockBackendStats;
  /** Applies a control patch from the network; the new controls, or the message for a 400. */
  control(patch: unknown): MockControls | string;
  /** Registers a cleanup that runs when the response closes or the backend shuts down, whichever comes first. */
  onStop(stop: () => void): void;
  /** Drops the connection the way a crashed server would, without it counting as a client abort. */
  crash(): void;
}
