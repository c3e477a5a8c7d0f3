/**
 * The gRPC protocol files (proto/), loaded once per process with @grpc/proto-loader: the taskpulse
 * driver service and the go-plugin services a go-plugin host expects (health, controller, broker).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { GrpcObject, ServiceClientConstructor } from '@grpc/grpc-js';
import { grpc, protoLoader } from './grpc.js';

/** The app protocol versions this taskpulse speaks (go-plugin's `PLUGIN_PROTOCOL_VERSIONS`). */
export const SUPPORTED_PROTOCOL_VERSIONS = [1] as const;

/** go-plugin's handshake config for taskpulse drivers: core protocol 1 and this magic cookie. */
export const CORE_PROTOCOL_VERSION = 1;
export const MAGIC_COOKIE_KEY = 'TASKPULSE_PLUGIN_MAGIC_COOKIE';
export const MAGIC_COOKIE_VALUE = '5d2a7c1e9b4f4e8a8c3d6f0b1a2e7c94';

/** Header a plugin sends once a TaskStats stream is open (before its first sample). */
export const STREAM_OPEN_HEADER = 'taskpulse-stream-open';

/**
 * Channel and server options of both sides. Channelz (per-call and per-message bookkeeping for
 * gRPC's debug service) costs CPU on every sample, and nothing here reads it.
 */
export const CHANNEL_OPTIONS = { 'grpc.enable_channelz': 0 } as const;

export interface Protocol {
  driver: ServiceClientConstructor;
  health: ServiceClientConstructor;
  controller: ServiceClientConstructor;
  broker: ServiceClientConstructor;
}

let loaded: Protocol | undefined;

// By the package's own name, so the same line works from src/ (development) and dist/ (built).
const protoDir = join(dirname(createRequire(import.meta.url).resolve('taskpulse/package.json')), 'proto');

function at(root: GrpcObject, path: string): ServiceClientConstructor {
  let node: unknown = root;
  for (const part of path.split('.')) node = (node as Record<string, unknown>)[part];
  return node as ServiceClientConstructor;
}

export function protocol(): Protocol {
  if (loaded) return loaded;
  const definition = protoLoader.loadSync(
    [
      'taskpulse/driver/v1/driver.proto',
      'grpc/health/v1/health.proto',
      'plugin/grpc_controller.proto',
      'plugin/grpc_broker.proto',
    ],
    { includeDirs: [protoDir], longs: Number, enums: String, defaults: true, oneofs: true },
  );
  const root = grpc.loadPackageDefinition(definition);
  loaded = {
    driver: at(root, 'taskpulse.driver.v1.TaskDriver'),
    health: at(root, 'grpc.health.v1.Health'),
    controller: at(root, 'plugin.GRPCController'),
    broker: at(root, 'plugin.GRPCBroker'),
  };
  return loaded;
}
